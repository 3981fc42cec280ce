// Package runcmd runs a program that may have just been written: on Linux
// a program file still open for writing somewhere (by the writer, or in a
// child another thread forked meanwhile, as parallel tests and deploy
// tools do) cannot be started (ETXTBSY, "text file busy"), for a moment.
package runcmd

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// Run runs the command build returns, building and running it again, up
// to 5 times over about a third of a second, while starting it fails with
// ETXTBSY. It returns the last run's error, or ctx's if ctx ends first.
func Run(ctx context.Context, build func() *exec.Cmd) error {
	wait := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := build().Run()
		if !errors.Is(err, syscall.ETXTBSY) || attempt == 5 {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}
