package managertest_test

import (
	"fmt"
	"time"

	"github.com/certkeeper/certkeeper/manager/managertest"
)

// A fake clock fires timers only when the test moves time forward, so a
// renewal schedule of days runs in microseconds. Give it to
// manager.Config.Clock.
func ExampleFakeClock() {
	clock := managertest.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t := clock.NewTimer(30 * 24 * time.Hour)
	clock.Advance(29 * 24 * time.Hour)
	select {
	case <-t.C():
		fmt.Println("fired too early")
	default:
		fmt.Println("not yet")
	}
	clock.Advance(24 * time.Hour)
	fmt.Println("fired at", (<-t.C()).Format(time.DateOnly))
	// Output:
	// not yet
	// fired at 2026-01-31
}
