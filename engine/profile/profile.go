// Package profile writes Go's CPU and heap profiles of one command run, so the next look at
// where a command spends its time and memory is one flag away (`go tool pprof FILE`).
package profile

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// Options name the profiles to write. The zero value writes none.
type Options struct {
	// CPU, when set, is the file the CPU profile of the whole run is written to.
	CPU string
	// Mem, when set, is the file the heap profile is written to when the run ends: every
	// allocation of the run (go tool pprof -sample_index=alloc_space) and what was still in use.
	Mem string
}

// Start begins profiling and returns the function that ends it and writes the profiles. Stop
// must be called once, also on the error paths of the run, so the CPU profile is complete.
func Start(opt Options) (stop func() error, err error) {
	var cpu *os.File
	if opt.CPU != "" {
		if cpu, err = os.Create(opt.CPU); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			_ = cpu.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				errs = append(errs, fmt.Errorf("cpu profile: %w", err))
			}
		}
		if opt.Mem != "" {
			errs = append(errs, writeHeap(opt.Mem))
		}
		return errors.Join(errs...)
	}, nil
}

func writeHeap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("memory profile: %w", err)
	}
	runtime.GC() // the profile's in-use figures are as of the last collection
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return fmt.Errorf("memory profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("memory profile: %w", err)
	}
	return nil
}
