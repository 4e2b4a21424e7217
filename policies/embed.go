// Package policies is the bundled policy set: the strategy group's Rego rules and their tests,
// compiled into samverk so that `samverk validate` applies them without a --policies flag.
package policies

import "embed"

// FS holds every .rego file of the policy set, tests included, at its path in this directory.
//
//go:embed */*.rego
var FS embed.FS
