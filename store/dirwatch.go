package store

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// WatchedLocker is an optional interface of a Store whose lock holders
// can learn, while they hold a lock, that they lost it: for a program that
// must stop rather than run on beside the lock's new holder (a daemon,
// whose store lock keeps a second daemon away).
//
// Contract:
//   - LockWatched blocks like Store.Lock until the lock called name is
//     held or ctx is done; TryLockWatched does not wait, like
//     TryLocker.TryLock (an error wrapping ErrLockBusy when another holds
//     the lock). Each returns a context derived from ctx, the watched
//     context, with the function that releases the lock.
//   - The watched context is canceled, with a cause (context.Cause)
//     wrapping ErrLockLost, as soon as the store finds that the lock is
//     lost (another process holds it now); the cause SHOULD say who, as
//     LockLostError does. It is canceled with cause context.Canceled when
//     unlock is called and the lock was not lost, and when ctx is done
//     with ctx's cause.
//   - Unlike FencedLocker, writes are not fenced: the store finds the loss
//     at its next look (Dir: its next refresh, within StaleLockAfter/4),
//     and work under the lock goes on until the holder stops it.
//   - unlock returns what Store.Lock's does (an error wrapping ErrLockLost
//     if the lock was lost), and an error when called a second time.
type WatchedLocker interface {
	LockWatched(ctx context.Context, name string) (watched context.Context, unlock func() error, err error)
	TryLockWatched(ctx context.Context, name string) (watched context.Context, unlock func() error, err error)
}

var _ WatchedLocker = (*Dir)(nil)

// LockWatched is Lock whose holder is told of the loss of the lock (see
// WatchedLocker): the returned context is canceled with a *LockLostError
// as its cause by the refresh that finds the hold lost (every
// StaleLockAfter/4: see Lock for when a hold is lost), naming the process
// that holds the lock now when its lock file says. It costs a lock no
// more system calls than Lock; the lock file of another process is read
// only when the hold was lost.
func (d *Dir) LockWatched(ctx context.Context, name string) (context.Context, func() error, error) {
	return d.lockWatched(ctx, name, true)
}

// TryLockWatched is LockWatched that does not wait: when another holder
// has the lock it returns the error TryLock returns (ErrLockBusy).
func (d *Dir) TryLockWatched(ctx context.Context, name string) (context.Context, func() error, error) {
	return d.lockWatched(ctx, name, false)
}

func (d *Dir) lockWatched(ctx context.Context, name string, wait bool) (context.Context, func() error, error) {
	watched, cancel := context.WithCancelCause(ctx)
	unlock, err := d.lock(ctx, name, wait, cancel)
	if err != nil {
		cancel(nil)
		return nil, nil, err
	}
	return watched, func() error {
		err := unlock()
		if errors.Is(err, ErrLockLost) {
			cancel(err) // a loss no refresh had seen yet
		}
		cancel(nil)
		return err
	}, nil
}

// LockLostError is the cause of the canceled context of a Dir's watched
// lock (Dir.LockWatched) that was lost: another process made its lock
// file while the holder's stood removed, or took the lock over as stale.
// It matches ErrLockLost (errors.Is).
type LockLostError struct {
	// Name is the lock's name.
	Name string
	// PID and Host name the process whose lock file stands at the lock's
	// name now, and Since is when it took the lock, as that file says;
	// PID is 0 when it says nothing (the file gone, torn, or this
	// process's own again after the one that took it let it go).
	PID   int
	Host  string
	Since time.Time
}

// Error reads "store: lock "NAME" was lost: it is held by pid PID on HOST
// since TIME now" (TIME in RFC 3339), or, when the holder is not known,
// "store: lock "NAME" was lost: another process took it while it was
// held".
func (e *LockLostError) Error() string {
	if e.PID == 0 {
		return "store: lock " + strconv.Quote(e.Name) + " was lost: another process took it while it was held"
	}
	return "store: lock " + strconv.Quote(e.Name) + " was lost: it is held by " + e.Holder() + " now"
}

// Holder says who holds the lock now: "pid PID on HOST since TIME", or
// "" if that is not known (PID 0).
func (e *LockLostError) Holder() string {
	if e.PID == 0 {
		return ""
	}
	return holderWords(e.PID, e.Host, e.Since)
}

// Is reports whether target is ErrLockLost.
func (e *LockLostError) Is(target error) bool { return target == ErrLockLost }

// holderWords says "pid PID on HOST since TIME".
func holderWords(pid int, host string, since time.Time) string {
	if host == "" {
		host = "an unknown host"
	}
	return "pid " + strconv.Itoa(pid) + " on " + host + " since " + since.Format(time.RFC3339)
}
