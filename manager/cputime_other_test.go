//go:build !unix

package manager

import "time"

// cpuTime is not measured here.
func cpuTime() time.Duration { return 0 }
