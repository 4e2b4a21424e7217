//go:build unix

package fleet

import (
	"syscall"
	"time"
)

// cpuTime is the processor time the process has used, user and system: on a busy machine a
// steadier measure of work than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
