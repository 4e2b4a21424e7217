//go:build !windows

package converge

import (
	"os/exec"
	"syscall"
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
