package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/cueeval"
)

// boundedCUE is the CUE evaluator of every command that loads a catalog: each .cue file is
// evaluated by samverk itself, re-executed as a child process under cueeval's default budget.
func boundedCUE() (catalog.CUEEvaluator, error) {
	return cueeval.New(cueeval.Options{Command: []string{selfPath(), cueeval.ChildCommand}})
}

// boundedLoad is catalog.Options with the bounded evaluator.
func boundedLoad() (catalog.Options, error) {
	ev, err := boundedCUE()
	if err != nil {
		return catalog.Options{}, &ExitError{Code: ExitUsage, Err: err}
	}
	return catalog.Options{CUE: ev}, nil
}

// selfPath is how to run this program again: the path it was started by, so that a program
// that dispatches on its own name (a multi-call binary, a test binary) comes back as samverk.
func selfPath() string {
	arg0 := os.Args[0]
	if strings.ContainsRune(arg0, filepath.Separator) {
		if abs, err := filepath.Abs(arg0); err == nil {
			return abs
		}
	} else if p, err := exec.LookPath(arg0); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	if exe, err := os.Executable(); err == nil {
		return exe
	}
	return arg0
}
