package progress_test

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"

	"samverk.io/samverk/engine/progress"
)

// signalWriter records what is written and says when the first write came.
type signalWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
	once  sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.once.Do(func() { close(w.wrote) })
	return w.buf.Write(p)
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestStartOnTerminal(t *testing.T) {
	w := &signalWriter{wrote: make(chan struct{})}
	stop := progress.Start(progress.Options{W: w, Terminal: true, Delay: 1}, "validating catalog")
	<-w.wrote
	stop()
	stop() // a second stop is harmless
	out := w.String()
	if !strings.HasPrefix(out, "\r\033[Kvalidating catalog… ") {
		t.Errorf("line = %q, want it to start with the work's name", out)
	}
	if !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("line = %q, want it cleared at the end", out)
	}
}

func TestStartSilent(t *testing.T) {
	var buf bytes.Buffer
	// Not a terminal: nothing, however long the work.
	stop := progress.Start(progress.Options{W: &buf, Terminal: false, Delay: 1}, "x")
	stop()
	// Stopped before the delay: nothing either.
	stop = progress.Start(progress.Options{W: &buf, Terminal: true, Delay: progress.Delay}, "x")
	stop()
	if buf.Len() != 0 {
		t.Errorf("wrote %q, want nothing", buf.String())
	}
}

func TestTerminal(t *testing.T) {
	var buf bytes.Buffer
	if progress.Terminal(&buf) {
		t.Error("a buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if progress.Terminal(f) {
		t.Error("a regular file is a terminal")
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	if progress.Terminal(devnull) {
		t.Error("the null device is a terminal")
	}
}
