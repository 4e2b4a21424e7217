// Package schemas embeds the CUE definitions of samverk's document kinds, one file per kind.
package schemas

import "embed"

// FS holds every *.cue file of this directory.
//
//go:embed *.cue
var FS embed.FS
