//go:build unix

package manager

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) this process has used: on a
// machine others load, what a benchmark costs, where wall time says how
// long it waited for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
