// Package progress shows one line on a terminal while slow work runs, and nothing anywhere
// else: not in CI, not in a pipe or a file, so logs and golden output stay clean.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// Delay is how long work runs before the line appears: quick work never shows one.
const Delay = 2 * time.Second

// Options say where the line goes and when. The zero value shows nothing.
type Options struct {
	// W receives the line; it is redrawn in place with a carriage return.
	W io.Writer
	// Terminal says whether W is a terminal a person watches (see Terminal).
	Terminal bool
	// Delay before the line appears (default Delay); Every how often the elapsed time is
	// redrawn (default one second).
	Delay, Every time.Duration
}

// Terminal reports whether w is an interactive terminal outside CI: a character device that is
// a TTY (or a Windows console), with no CI environment variable set.
func Terminal(w io.Writer) bool {
	if os.Getenv("CI") != "" {
		return false
	}
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// Start shows "what… 3s" once the work has run longer than the delay, and returns the function
// that ends it: it clears the line (when one was drawn) and returns once nothing more is written.
func Start(opt Options, what string) (stop func()) {
	if opt.W == nil || !opt.Terminal {
		return func() {}
	}
	if opt.Delay == 0 {
		opt.Delay = Delay
	}
	if opt.Every == 0 {
		opt.Every = time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		timer := time.NewTimer(opt.Delay)
		defer timer.Stop()
		select {
		case <-done:
			return
		case <-timer.C:
		}
		ticker := time.NewTicker(opt.Every)
		defer ticker.Stop()
		for {
			fmt.Fprintf(opt.W, "\r\033[K%s… %s", what, time.Since(start).Round(time.Second))
			select {
			case <-done:
				fmt.Fprint(opt.W, "\r\033[K")
				return
			case <-ticker.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
