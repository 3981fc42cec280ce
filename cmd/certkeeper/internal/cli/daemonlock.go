package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/cmd/certkeeper/internal/config"
	"github.com/certkeeper/certkeeper/store"
)

// daemonLock is the name of the store lock a daemon holds for its life.
const daemonLock = "daemon"

// lockStore holds the directory store's "daemon" lock, so that a second
// daemon on the same store is refused at once, naming the first. It
// returns a context derived from ctx that is canceled, its cause wrapping
// store.ErrLockLost, if the lock is lost while the daemon runs (see
// lockLost), and the function that releases the lock.
func (d *daemon) lockStore(ctx context.Context, cfg *config.Config) (context.Context, func(), error) {
	var (
		locked = ctx
		unlock func() error
		err    error
	)
	switch s := d.certs.Store.(type) {
	case store.WatchedLocker:
		locked, unlock, err = s.TryLockWatched(ctx, daemonLock)
	case store.TryLocker:
		unlock, err = s.TryLock(ctx, daemonLock)
	default:
		return ctx, func() {}, nil
	}
	if errors.Is(err, store.ErrLockBusy) {
		holder := ""
		if lb := (*store.LockBusyError)(nil); errors.As(err, &lb) {
			holder = " (" + lb.Holder() + ")"
		}
		return nil, nil, fmt.Errorf("another certkeeper daemon%s is already running on the store %s: stop it first, or give this one another store", holder, cfg.Store.Dir)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("locking the store %s: %w", cfg.Store.Dir, err)
	}
	return locked, func() {
		err := unlock()
		if err != nil && !errors.Is(context.Cause(locked), store.ErrLockLost) { // else said by lockLost
			d.log.Warn("releasing the store's daemon lock", "error", err)
		}
	}, nil
}

// stopped is what run returns once ctx, the daemon's, is done: nil after
// an interrupt, the error of lockLost when the store lock was lost.
func (d *daemon) stopped(ctx context.Context, cfg *config.Config, wg *sync.WaitGroup) error {
	if err := d.lockLost(ctx, cfg, wg); err != nil {
		return err
	}
	d.log.Info("stopping")
	return nil
}

// lockLost returns nil if ctx, the daemon's, ended otherwise than by the
// loss of the store's daemon lock (an interrupt). Lost, the lock is
// another process's now, most likely a second daemon's that took it while
// its file stood removed: the orders under way were canceled with ctx, as
// at an interrupt; lockLost gives them interruptGrace to wind down, then
// stops the deploy hooks still running (as an interrupt does), and
// returns the error saying what happened and what to do.
func (d *daemon) lockLost(ctx context.Context, cfg *config.Config, wg *sync.WaitGroup) error {
	cause := context.Cause(ctx)
	if !errors.Is(cause, store.ErrLockLost) {
		return nil
	}
	holder := "another process"
	if le := (*store.LockLostError)(nil); errors.As(cause, &le) && le.PID != 0 {
		holder += " (" + le.Holder() + ")"
	}
	err := &daemonLockLostError{cause: cause, msg: fmt.Sprintf(
		"lost the store's daemon lock to %s, most likely a second certkeeper daemon, which took it while this daemon's lock file in %s stood removed or stale: "+
			"stopped, so that two daemons do not renew the certificates of %s side by side; keep one daemon per store: stop the other one, then start this one again if it is the one to run",
		holder, filepath.Join(cfg.Store.Dir, ".locks"), cfg.Store.Dir)}
	d.log.Error("the store's daemon lock was lost: stopping", "store", cfg.Store.Dir, "error", cause)
	stopped := make(chan struct{})
	go func() {
		wg.Wait()
		close(stopped)
	}()
	t := time.NewTimer(interruptGrace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		if c := d.env.cleanups; c != nil && len(c.running()) > 0 {
			d.log.Warn("stopping the deploy hooks still running, which count as failed: run them again by hand if they must run", "hooks", c.running())
			c.stop()
		}
	}
	return err
}

// daemonLockLostError is the daemon's error when its store lock was lost:
// its message says what to do; it wraps the store's (store.ErrLockLost).
type daemonLockLostError struct {
	msg   string
	cause error
}

func (e *daemonLockLostError) Error() string { return e.msg }
func (e *daemonLockLostError) Unwrap() error { return e.cause }

// staleLockKey carries, in the context given to Main, the StaleLockAfter
// of the daemon's directory store: tests make its lock refreshes
// frequent with it (withStaleLockAfter) to see a lost lock noticed.
type staleLockKey struct{}

// withStaleLockAfter returns ctx carrying the daemon store's
// StaleLockAfter d (tests).
func withStaleLockAfter(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, staleLockKey{}, d)
}

// setStaleLockAfter gives dir the StaleLockAfter ctx carries, if any.
func setStaleLockAfter(ctx context.Context, dir *store.Dir) {
	if v, ok := ctx.Value(staleLockKey{}).(time.Duration); ok {
		dir.StaleLockAfter = v
	}
}
