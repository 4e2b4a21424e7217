// Package bundled is the reference catalog compiled into samverk, so that `samverk serve`
// without --repo has a real catalog to follow on a fresh machine.
package bundled

import "embed"

// FS holds every file of the reference catalog at its path in this directory (this Go file too:
// catalog loaders read only YAML and CUE).
//
//go:embed *
var FS embed.FS
