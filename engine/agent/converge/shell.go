package converge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Default time limits, used when a resource sets none.
const (
	DefaultCommandTimeout   = 5 * time.Minute
	DefaultInstallerTimeout = 30 * time.Minute
)

// outputTail is how much of a program's output is kept for reasons and logs.
const outputTail = 4096

// shell runs scripts and programs with the agent's environment plus SAMVERK_ROOT. Under a root
// they start in the root, with HOME (and on Windows USERPROFILE) set to it, so that a script
// written with relative paths or ~ stays in the root. That is a convenience for tests and
// demos, not confinement: a program can still reach any path the agent's user can.
type shell struct {
	root string
	env  []string
}

func newShell(root string) *shell {
	env := os.Environ()
	if root != "" {
		env = slices.DeleteFunc(env, func(kv string) bool {
			k, _, _ := strings.Cut(kv, "=")
			return rootedVars[strings.ToUpper(k)]
		})
		env = append(env, "HOME="+root, "PWD="+root)
		if runtime.GOOS == "windows" {
			env = append(env, "USERPROFILE="+root)
		}
	}
	env = append(env, "SAMVERK_ROOT="+root)
	return &shell{root: root, env: env}
}

// rootedVars are the environment variables a root replaces (upper case: Windows ignores case).
var rootedVars = map[string]bool{"HOME": true, "PWD": true, "USERPROFILE": true, "SAMVERK_ROOT": true}

// exitResult is how a program ended, when it ran to the end.
type exitResult struct {
	code   int
	output string // the last outputTail bytes of stdout and stderr together
}

// summary is a one-line account of a non-zero exit, for reasons.
func (x exitResult) summary(what string) string {
	msg := fmt.Sprintf("%s exited %d", what, x.code)
	if last := lastLine(x.output); last != "" {
		msg += ": " + last
	}
	return msg
}

// script runs a script with the platform's shell (sh -c; PowerShell on Windows). A non-zero
// exit is not an error; failing to start, a timeout or cancellation is.
func (s *shell) script(ctx context.Context, script string, timeout time.Duration, env ...string) (exitResult, error) {
	name, args := shellCommand(script)
	return s.program(ctx, timeout, name, args, env...)
}

// program runs one program directly, without a shell.
func (s *shell) program(ctx context.Context, timeout time.Duration, name string, args []string, env ...string) (exitResult, error) {
	return s.run(ctx, timeout, name, args, nil, env)
}

// run runs a program; tweak, when not nil, adjusts the command before it starts.
func (s *shell) run(ctx context.Context, timeout time.Duration, name string, args []string, tweak func(*exec.Cmd), env []string) (exitResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = s.env
	cmd.Dir = s.root // "" is the agent's own working directory
	if len(env) > 0 {
		cmd.Env = append(append([]string(nil), s.env...), env...)
	}
	out := &tailBuffer{max: outputTail}
	cmd.Stdout = out
	cmd.Stderr = out
	// Kill the whole process group, not only the shell, and do not wait forever for
	// grandchildren that hold the output pipes.
	killGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	if tweak != nil {
		tweak(cmd)
	}
	err := cmd.Run()
	res := exitResult{output: out.String()}
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return res, fmt.Errorf("%s: timed out after %s", name, timeout)
		}
		return res, fmt.Errorf("%s: %w", name, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.code = ee.ExitCode()
		if res.code < 0 {
			return res, fmt.Errorf("%s: %w", name, err)
		}
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}

// timeout turns a resource's seconds into a duration, def when unset.
func timeout(seconds int, def time.Duration) time.Duration {
	if seconds > 0 {
		return time.Duration(seconds) * time.Second
	}
	return def
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= t.max {
		p = p[len(p)-t.max:]
		t.buf = append(t.buf[:0], p...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ToValidUTF8(string(t.buf), "?")
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	return s
}
