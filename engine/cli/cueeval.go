package cli

import (
	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/cueeval"
)

// boundedLoad is catalog.Options with the CUE evaluator of every command that loads a catalog:
// each .cue file is evaluated by samverk itself, run again as a child process under cueeval's
// default budget.
func boundedLoad() (catalog.Options, error) {
	ev, err := cueeval.New(cueeval.Options{})
	if err != nil {
		return catalog.Options{}, &ExitError{Code: ExitUsage, Err: err}
	}
	return catalog.Options{CUE: ev}, nil
}
