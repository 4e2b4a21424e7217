// Package cueeval evaluates untrusted catalog CUE under a budget: in a child process (samverk
// itself, re-executed) with bounded memory, CPU time, wall time and output, so that a few bytes
// of CUE that ask for gigabytes are refused with a finding instead of taking samverk down.
package cueeval

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/finding"
)

// ChildCommand is the hidden samverk subcommand that runs RunChild.
const ChildCommand = "__cue-eval"

// exitOverOutput is the child's exit code for a result over its size limit.
const exitOverOutput = 3

// Options bound one evaluation. The zero value is a working default.
type Options struct {
	// Command is the child's argv up to its own flags: the name it runs as and the arguments
	// that make it run RunChild (default: this process's own name and ChildCommand).
	Command []string
	// Path is the program to run (default: with Command unset, this very executable, as
	// /proc/self/exe on Linux, so that a binary replaced by an upgrade while samverk runs does
	// not answer in another version's words; with Command set, Command[0]).
	Path string
	// Memory is how much the child may allocate beyond what it has when it starts (default
	// 384 MiB). On Linux it is a hard limit (RLIMIT_AS); elsewhere the Go runtime's soft one.
	Memory int64
	// CPU is the CPU time the child may use, all threads together, in whole seconds (default 1 s;
	// on Linux, RLIMIT_CPU). Unlike wall time it does not depend on how busy the machine is.
	CPU time.Duration
	// Timeout is the wall time after which the child is killed (default 10 s): a backstop for
	// a child that stops making progress. CPU is the bound that matters, and holds on a busy
	// machine too.
	Timeout time.Duration
	// MaxOutput is the largest evaluated result accepted, in bytes of its JSON form
	// (default 8 MiB).
	MaxOutput int64
}

func (o Options) withDefaults() (Options, error) {
	if len(o.Command) == 0 {
		o.Command = []string{os.Args[0], ChildCommand}
		if o.Path == "" {
			p, err := selfExe()
			if err != nil {
				return o, fmt.Errorf("cueeval: find the samverk executable: %w", err)
			}
			o.Path = p
		}
	}
	if o.Path == "" {
		o.Path = o.Command[0]
	}
	if o.Memory <= 0 {
		o.Memory = 384 << 20
	}
	if o.CPU <= 0 {
		o.CPU = time.Second
	}
	if o.CPU < time.Second {
		o.CPU = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxOutput <= 0 {
		o.MaxOutput = 8 << 20
	}
	return o, nil
}

// Evaluator runs each evaluation in a child process of its own. It is safe for concurrent use.
type Evaluator struct {
	opt Options
}

var _ catalog.CUEEvaluator = (*Evaluator)(nil)

// New returns an Evaluator with opt's budget.
func New(opt Options) (*Evaluator, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Evaluator{opt: opt}, nil
}

// EvalCUE implements catalog.CUEEvaluator. An evaluation over budget is a finding of rule
// load/cue-budget at the top-level field being evaluated when it was stopped; the error is for
// a child that could not be started at all.
func (e *Evaluator) EvalCUE(file string, src []byte) ([]*catalog.Document, []finding.Finding, error) {
	o := e.opt
	args := append(o.Command[1:len(o.Command):len(o.Command)],
		"-file", file,
		"-memory", strconv.FormatInt(o.Memory, 10),
		"-cpu", strconv.Itoa(int(o.CPU/time.Second)),
		"-max-output", strconv.FormatInt(o.MaxOutput, 10))
	cmd := exec.Command(o.Path, args...)
	cmd.Args[0] = o.Command[0]
	cmd.Stdin = bytes.NewReader(src)
	cmd.Env = childEnv()
	cmd.SysProcAttr = sysProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, fmt.Errorf("cueeval: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, fmt.Errorf("cueeval: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("cueeval: start %s: %w", o.Path, err)
	}

	var timedOut, overOutput bool
	var mu sync.Mutex
	kill := func(flag *bool) {
		mu.Lock()
		*flag = true
		mu.Unlock()
		_ = cmd.Process.Kill()
	}
	timer := time.AfterFunc(o.Timeout, func() { kill(&timedOut) })
	defer timer.Stop()

	var out []byte
	var watch childWatch
	var wg sync.WaitGroup
	wg.Go(func() {
		b, _ := io.ReadAll(io.LimitReader(stdout, o.MaxOutput+1))
		if int64(len(b)) > o.MaxOutput {
			kill(&overOutput)
			_, _ = io.Copy(io.Discard, stdout)
			return
		}
		out = b
	})
	wg.Go(func() { watch.read(stderr) })
	wg.Wait()
	waitErr := cmd.Wait()
	timer.Stop()
	mu.Lock()
	defer mu.Unlock()

	over := func(format string, args ...any) ([]*catalog.Document, []finding.Finding, error) {
		f := finding.Finding{
			Rule: finding.RuleCUEBudget, Severity: finding.Deny, File: file, Line: 1, Column: 1,
			Message: "CUE evaluation stopped: " + fmt.Sprintf(format, args...),
		}
		if watch.pos.Line > 0 {
			f.Line, f.Column = watch.pos.Line, watch.pos.Column
			f.Message += fmt.Sprintf(" (while evaluating the field at line %d); refused", watch.pos.Line)
		} else {
			f.Message += " (while compiling the file); refused"
		}
		return nil, []finding.Finding{f}, nil
	}
	var exit *exec.ExitError
	switch {
	case overOutput, errors.As(waitErr, &exit) && exit.ExitCode() == exitOverOutput:
		return over("its result is larger than %s", bytesString(o.MaxOutput))
	case watch.outOfMemory:
		return over("it needs more than %s of memory", bytesString(o.Memory))
	case timedOut:
		return over("it took longer than %s", o.Timeout)
	case errors.As(waitErr, &exit) && cpuKilled(exit):
		return over("it used more than %s of CPU time", o.CPU)
	case waitErr != nil:
		return over("the evaluation failed (%v): %s", waitErr, watch.firstError())
	}
	docs, fnd, err := catalog.DecodeCUEResult(out, file)
	if err != nil {
		return over("its result cannot be read: %v", err)
	}
	return docs, fnd, nil
}

// childEnv is the child's environment: this process's, without samverk's own settings (secrets
// among them: the child needs none) and without Go runtime settings that could lift its limits.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SAMVERK_") {
			continue
		}
		switch k {
		case "GOGC", "GOMEMLIMIT", "GODEBUG", "GOMAXPROCS", "GOTRACEBACK":
			continue
		}
		env = append(env, kv)
	}
	// A fatal error prints only the failing goroutine: there is nothing to learn from the rest.
	return append(env, "GOTRACEBACK=single")
}

// childWatch follows the child's standard error: the progress lines RunChild writes, and the
// Go runtime's words when it dies.
type childWatch struct {
	pos         catalog.Pos
	outOfMemory bool
	errLines    []string
}

const progressPrefix = "samverk-cue-field "

func (w *childWatch) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, progressPrefix); ok {
			l, c, _ := strings.Cut(rest, ":")
			w.pos.Line, _ = strconv.Atoi(l)
			w.pos.Column, _ = strconv.Atoi(c)
			continue
		}
		// The Go runtime's words, and those of the race detector's runtime in a -race build.
		if strings.Contains(line, "out of memory") || strings.Contains(line, "cannot allocate memory") || strings.Contains(line, "failed to allocate") {
			w.outOfMemory = true
		}
		if len(w.errLines) < 4 && strings.TrimSpace(line) != "" {
			w.errLines = append(w.errLines, line)
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

func (w *childWatch) firstError() string {
	if len(w.errLines) == 0 {
		return "no message"
	}
	return strings.Join(w.errLines, "; ")
}

func bytesString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
