//go:build !windows

package converge

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"
)

func shellCommand(script string) (string, []string) {
	return "sh", []string{"-c", script}
}

// killGroup puts the program in its own process group and kills the group on cancellation.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// commandLine is for Windows programs that parse their own command line; none run here.
func (s *shell) commandLine(context.Context, time.Duration, string, string, ...string) (exitResult, error) {
	return exitResult{}, errors.New("a raw command line runs only on Windows")
}
