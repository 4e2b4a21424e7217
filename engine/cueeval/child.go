package cueeval

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"samverk.io/samverk/engine/catalog"
)

// RunChild is the child's side: it reads one CUE file from stdin, evaluates it under the limits
// its arguments give and writes the result to stdout, and progress to stderr. It returns the
// exit code. samverk runs it as its hidden ChildCommand; nothing else should.
func RunChild(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet(ChildCommand, flag.ContinueOnError)
	fl.SetOutput(stderr)
	file := fl.String("file", "", "the file's name, for positions")
	memory := fl.Int64("memory", 384<<20, "bytes the evaluation may allocate")
	cpu := fl.Int("cpu", 1, "seconds of CPU time")
	maxOutput := fl.Int64("max-output", 8<<20, "largest result in bytes")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if err := limit(*memory, time.Duration(*cpu)*time.Second); err != nil {
		fmt.Fprintf(stderr, "cueeval: %v\n", err)
		return 2
	}
	// Collect hard before the hard limit is near, so that what fits is not refused.
	debug.SetMemoryLimit(*memory / 2)
	src, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "cueeval: read: %v\n", err)
		return 2
	}
	docs, fnd := catalog.EvalCUE(*file, src, func(p catalog.Pos) {
		fmt.Fprintf(stderr, "%s%d:%d\n", progressPrefix, p.Line, p.Column)
	})
	var buf bytes.Buffer
	if err := catalog.EncodeCUEResult(&buf, docs, fnd); err != nil {
		fmt.Fprintf(stderr, "cueeval: %v\n", err)
		return 2
	}
	if int64(buf.Len()) > *maxOutput {
		fmt.Fprintf(stderr, "cueeval: result of %d bytes is over the limit\n", buf.Len())
		return exitOverOutput
	}
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return 2
	}
	return 0
}
