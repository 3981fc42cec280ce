package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// takeWhileRemoved removes d's lock directory and has another Dir of the
// same root take the lock called name, as a second daemon started in
// that window does; it returns that Dir's unlock and what its lock file
// says. d's refresh, if it runs by itself, may put the lock back first:
// then it tries again.
func takeWhileRemoved(t *testing.T, d *Dir, name string) (func() error, lockInfo) {
	t.Helper()
	other, err := NewDir(d.root)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := os.RemoveAll(filepath.Join(d.root, lockDir)); err != nil {
			t.Fatal(err)
		}
		unlock, err := other.TryLock(t.Context(), name)
		if err == nil {
			return unlock, readLockInfo(t, other, name)
		}
		if !errors.Is(err, ErrLockBusy) {
			t.Fatal(err)
		}
	}
	t.Fatalf("the lock %q was put back before another Dir could take it, 100 times", name)
	return nil, lockInfo{}
}

// wantLost checks that watched was canceled with a LockLostError for the
// lock called name naming pid (0: no one).
func wantLost(t *testing.T, watched context.Context, name string, pid int) *LockLostError {
	t.Helper()
	select {
	case <-watched.Done():
	default:
		t.Fatal("the watched context of a lost lock is not canceled")
	}
	cause := context.Cause(watched)
	var le *LockLostError
	if !errors.Is(cause, ErrLockLost) || !errors.As(cause, &le) || le.Name != name || le.PID != pid {
		t.Fatalf("cause = %#v (%v), want a LockLostError for %q naming pid %d", cause, cause, name, pid)
	}
	return le
}

// The lock taken by another process while the lock directory stood
// removed: the refresh that finds it cancels the watched context, its
// cause a LockLostError naming the new holder; the unlock reports the
// loss and leaves the other's lock file.
func TestLockWatchedLostAtRefresh(t *testing.T) {
	d := newTestDir(t)
	watched, unlock, err := d.TryLockWatched(t.Context(), "daemon")
	if err != nil {
		t.Fatal(err)
	}
	ou, theirs := takeWhileRemoved(t, d, "daemon")
	if watched.Err() != nil {
		t.Fatal("watched context canceled before any refresh")
	}
	if err := d.renewHolder(d.holder); err != nil {
		t.Fatal(err)
	}
	le := wantLost(t, watched, "daemon", os.Getpid())
	if !le.Since.Equal(theirs.Acquired) || le.Host != theirs.Host {
		t.Errorf("LockLostError names %s, want the other holder's host %q since %v", le.Holder(), theirs.Host, theirs.Acquired)
	}
	if err := unlock(); !errors.Is(err, ErrLockLost) {
		t.Errorf("unlock of a lost hold = %v, want ErrLockLost", err)
	}
	if err := ou(); err != nil {
		t.Errorf("the other holder's unlock: %v", err)
	}
}

// A watched lock released normally, through a refresh that puts its
// removed lock file back, is never canceled as lost: its context ends at
// the unlock, with cause context.Canceled.
func TestLockWatchedReleased(t *testing.T) {
	d := newTestDir(t)
	watched, unlock, err := d.LockWatched(t.Context(), "daemon")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.renewHolder(d.holder); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(d.root, lockDir)); err != nil {
		t.Fatal(err)
	}
	if err := d.renewHolder(d.holder); err != nil {
		t.Fatal(err)
	}
	if watched.Err() != nil {
		t.Fatalf("watched context of a held lock canceled: %v", context.Cause(watched))
	}
	if err := unlock(); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if cause := context.Cause(watched); cause != context.Canceled {
		t.Errorf("after unlock, cause = %v, want context.Canceled", cause)
	}
	if err := unlock(); err == nil {
		t.Error("second unlock succeeded")
	}
}

// The loss found by the unlock itself, before any refresh, is the
// watched context's cause too.
func TestLockWatchedLostAtUnlock(t *testing.T) {
	d := newTestDir(t)
	watched, unlock, err := d.TryLockWatched(t.Context(), "daemon")
	if err != nil {
		t.Fatal(err)
	}
	ou, _ := takeWhileRemoved(t, d, "daemon")
	defer ou()
	if err := unlock(); !errors.Is(err, ErrLockLost) {
		t.Fatalf("unlock of a lost hold = %v, want ErrLockLost", err)
	}
	if cause := context.Cause(watched); !errors.Is(cause, ErrLockLost) {
		t.Errorf("cause = %v, want ErrLockLost", cause)
	}
}

// This process took the lock again while a watched hold believed it held
// it (its lock file removed, or broken as stale by another process that
// then let it go): the watched hold is lost, no holder named, the new
// hold is not.
func TestLockWatchedRetakenInProcess(t *testing.T) {
	d := newTestDir(t)
	watched, unlock, err := d.LockWatched(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(d.root, lockPath("a"))); err != nil {
		t.Fatal(err)
	}
	again, unlock2, err := d.TryLockWatched(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	wantLost(t, watched, "a", 0)
	if again.Err() != nil {
		t.Errorf("the new hold's context canceled: %v", context.Cause(again))
	}
	if err := unlock(); !errors.Is(err, ErrLockLost) {
		t.Errorf("unlock of the lost hold = %v, want ErrLockLost", err)
	}
	if err := unlock2(); err != nil {
		t.Errorf("unlock of the new hold: %v", err)
	}
}

// A watched lock held by another process is refused at once, ErrLockBusy.
func TestTryLockWatchedBusy(t *testing.T) {
	d := newTestDir(t)
	unlock, err := d.TryLock(t.Context(), "daemon")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	other, err := NewDir(d.root)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.TryLockWatched(t.Context(), "daemon"); !errors.Is(err, ErrLockBusy) {
		t.Errorf("TryLockWatched of a held lock = %v, want ErrLockBusy", err)
	}
}

// Where the lock file is the hold's own (no hard links), the refresh
// that finds another's file at its name cancels the watched context too.
// The refresh runs by itself here (every 10 ms): the test waits for the
// context, and fails if it is not canceled within 10 s.
func TestLockWatchedOwnFileLost(t *testing.T) {
	d := newTestDir(t)
	d.noHardLinks = true
	d.StaleLockAfter = 40 * time.Millisecond
	watched, unlock, err := d.TryLockWatched(t.Context(), "daemon")
	if err != nil {
		t.Fatal(err)
	}
	ou, _ := takeWhileRemoved(t, d, "daemon")
	defer ou()
	select {
	case <-watched.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("watched context not canceled by the refresh in 10 s")
	}
	wantLost(t, watched, "daemon", os.Getpid())
	if err := unlock(); !errors.Is(err, ErrLockLost) {
		t.Errorf("unlock of a lost hold = %v, want ErrLockLost", err)
	}
}

// LockLostError reads as one sentence naming the new holder, and matches
// ErrLockLost.
func TestLockLostErrorWords(t *testing.T) {
	since := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	e := &LockLostError{Name: "daemon", PID: 42, Host: "host-a", Since: since}
	if got, want := e.Error(), `store: lock "daemon" was lost: it is held by pid 42 on host-a since 2025-01-02T03:04:05Z now`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := (&LockLostError{Name: "x"}).Error(), `store: lock "x" was lost: another process took it while it was held`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, ErrLockLost) || errors.Is(e, ErrLockBusy) {
		t.Error("LockLostError does not match ErrLockLost alone")
	}
}
