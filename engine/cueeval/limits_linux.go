package cueeval

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// limit caps the calling process: its address space at what it has mapped now plus memory, and
// its CPU time. Address space, not resident memory, is what the kernel can cap without cgroups;
// the Go runtime maps its heap as it grows, so growth beyond memory fails and the runtime
// stops with "out of memory".
func limit(memory int64, cpu time.Duration) error {
	vsz, err := mappedBytes()
	if err != nil {
		return err
	}
	as := uint64(vsz + memory)
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: as, Max: as}); err != nil {
		return fmt.Errorf("limit address space: %w", err)
	}
	secs := uint64(max(cpu/time.Second, 1))
	// At the soft limit the kernel sends SIGXCPU, which Go ignores; at the hard one, SIGKILL.
	if err := syscall.Setrlimit(syscall.RLIMIT_CPU, &syscall.Rlimit{Cur: secs, Max: secs}); err != nil {
		return fmt.Errorf("limit CPU time: %w", err)
	}
	return nil
}

// mappedBytes is the process's virtual size.
func mappedBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("read virtual size: %w", err)
	}
	pages, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read virtual size: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}

// selfExe is the running executable itself, even if its file has been replaced since.
func selfExe() (string, error) {
	const self = "/proc/self/exe"
	if _, err := os.Stat(self); err != nil {
		return os.Executable()
	}
	return self, nil
}

// sysProcAttr kills the child when its parent dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// cpuKilled reports whether the child was killed for its CPU time: SIGKILL at the hard limit
// (the parent's own kills are known to it and checked first).
func cpuKilled(e *exec.ExitError) bool {
	ws, ok := e.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && (ws.Signal() == syscall.SIGKILL || ws.Signal() == syscall.SIGXCPU)
}
