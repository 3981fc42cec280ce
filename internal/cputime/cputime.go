//go:build unix

// Package cputime reads the CPU time this process has used, for
// benchmarks on a machine that others load: what a benchmark costs,
// where wall time also says how long it waited for a core.
package cputime

import (
	"syscall"
	"time"
)

// Used returns the CPU time (user and system) this process has used so
// far, or 0 where it cannot be read.
func Used() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
