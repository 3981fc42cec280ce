package store

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// ErrLockLost is wrapped by the error of a write made under a fenced lock
// (see FencedLocker) that the writer no longer held: its lease expired,
// another process took the lock, or it was released. Dir's unlock wraps
// it too when the lock was lost before it was released (see Dir.Lock).
var ErrLockLost = errors.New("store: lock lost")

// ErrLockBusy is wrapped by the error of FencedLocker.TryLockFenced and
// TryLocker.TryLock when another holder has the lock.
var ErrLockBusy = errors.New("store: lock held by another process")

// LockBusyError is the directory store's TryLock error when another
// process holds the lock and its lock file says which. It matches
// ErrLockBusy (errors.Is).
type LockBusyError struct {
	// Name is the lock's name.
	Name string
	// PID and Host are the holder's process id and host name ("" if it
	// did not record one); Since is when it took the lock.
	PID   int
	Host  string
	Since time.Time
}

// Error reads "store: lock "NAME" is held by pid PID on HOST since TIME",
// TIME in RFC 3339.
func (e *LockBusyError) Error() string {
	return "store: lock " + strconv.Quote(e.Name) + " is held by " + e.Holder()
}

// Holder says who holds the lock: "pid PID on HOST since TIME".
func (e *LockBusyError) Holder() string { return holderWords(e.PID, e.Host, e.Since) }

// Is reports whether target is ErrLockBusy.
func (e *LockBusyError) Is(target error) bool { return target == ErrLockBusy }

// FencedLocker is an optional interface of a distributed Store whose locks
// can fence writes. Store.Lock alone is advisory: a holder that was paused
// or cut off past its lease can wake up and overwrite what the next holder
// wrote. A write made with the context a FencedLocker returns is applied
// only if the lock is still held at that moment, atomically with the check
// (an etcd transaction on the lock key's revision).
//
// Contract:
//   - LockFenced blocks like Store.Lock until the lock called name is held
//     or ctx is done, and returns a context derived from ctx, the fenced
//     context, with the function that releases the lock.
//   - Put and Delete called with the fenced context (or any context
//     derived from it, including context.WithoutCancel) succeed only
//     while the lock is held; otherwise they change nothing and fail with
//     an error wrapping ErrLockLost. Get, List and Stat are not fenced.
//   - The fenced context is canceled as soon as the backend knows the lock
//     is lost (lease expired, session closed) or unlock is called, so that
//     work done under the lock stops.
//   - A holder that dies (process killed, machine lost) loses the lock
//     after the backend's lease time; a live holder keeps it for as long
//     as it can reach the backend.
//   - TryLockFenced is LockFenced that does not wait: when another holds
//     the lock it returns at once an error wrapping ErrLockBusy.
//   - unlock is idempotent in effect: a second call returns an error and
//     releases nothing.
type FencedLocker interface {
	LockFenced(ctx context.Context, name string) (fenced context.Context, unlock func() error, err error)
	TryLockFenced(ctx context.Context, name string) (fenced context.Context, unlock func() error, err error)
}
