//go:build !linux

package cueeval

import (
	"os"
	"os/exec"
	"syscall"
	"time"
)

// limit has no hard limits to set outside Linux: the child relies on the Go runtime's soft
// memory limit and on the parent's wall-time deadline.
func limit(memory int64, cpu time.Duration) error { return nil }

func selfExe() (string, error) { return os.Executable() }

func sysProcAttr() *syscall.SysProcAttr { return nil }

func cpuKilled(*exec.ExitError) bool { return false }
