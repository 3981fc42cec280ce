package store

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// readLockInfo reads the lock file of the lock called name in d.
func readLockInfo(t *testing.T, d *Dir, name string) lockInfo {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(d.root, lockPath(name)))
	if err != nil {
		t.Fatal(err)
	}
	var li lockInfo
	if err := json.Unmarshal(data, &li); err != nil {
		t.Fatal(err)
	}
	return li
}

// wantBusy checks that another Dir of d's root is refused the lock called
// name, told that this process holds it since since.
func wantBusy(t *testing.T, d *Dir, name string, since time.Time) {
	t.Helper()
	other, err := NewDir(d.root)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := other.TryLock(t.Context(), name)
	if err == nil {
		unlock()
		t.Fatalf("another Dir took the lock %q held by the first", name)
	}
	var lb *LockBusyError
	if !errors.As(err, &lb) || lb.PID != os.Getpid() || !lb.Since.Equal(since) {
		t.Errorf("another Dir's TryLock(%q) = %v, want a LockBusyError naming pid %d since %v", name, err, os.Getpid(), since)
	}
}

// The lock directory removed under a live holder (rm -rf .locks beside a
// running daemon): the holder's next refresh puts its lock files back, at
// the same names and saying the same, and another process is refused the
// lock again, told who holds it.
func TestLockDirRemovedRestoredByRefresh(t *testing.T) {
	d := newTestDir(t)
	unlock, err := d.TryLock(t.Context(), "daemon")
	if err != nil {
		t.Fatal(err)
	}
	before := readLockInfo(t, d, "daemon")
	if err := os.RemoveAll(filepath.Join(d.root, lockDir)); err != nil {
		t.Fatal(err)
	}
	if err := d.renewHolder(d.holder); err != nil {
		t.Fatal(err)
	}
	wantBusy(t, d, "daemon", before.Acquired)
	if after := readLockInfo(t, d, "daemon"); after.Token != before.Token {
		t.Errorf("lock file put back with token %q, want %q", after.Token, before.Token)
	}
	if err := unlock(); err != nil {
		t.Errorf("unlock: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.root, lockDir)); len(ents) != 0 {
		t.Errorf("left in %s: %v", lockDir, ents)
	}
}

// One lock file removed under its holder: the refresh links it again,
// and leaves the other locks as they are.
func TestLockFileRemovedRestoredByRefresh(t *testing.T) {
	d := newTestDir(t)
	ctx := t.Context()
	ua, err := d.Lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	ub, err := d.Lock(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	since := readLockInfo(t, d, "a").Acquired
	if err := os.Remove(filepath.Join(d.root, lockPath("a"))); err != nil {
		t.Fatal(err)
	}
	if err := d.renewHolder(d.holder); err != nil {
		t.Fatal(err)
	}
	wantBusy(t, d, "a", since)
	wantBusy(t, d, "b", since)
	if err := ua(); err != nil {
		t.Errorf("unlock a: %v", err)
	}
	if err := ub(); err != nil {
		t.Errorf("unlock b: %v", err)
	}
}

// The holder file alone removed: the lock files, links to it, stay, and
// the refresh keeps them fresh, so that no waiter takes them over as
// stale.
func TestLockHolderRemovedLinksKeptFresh(t *testing.T) {
	d := newTestDir(t)
	unlock, err := d.Lock(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range holderFiles(t, d) {
		os.Remove(h)
	}
	p := filepath.Join(d.root, lockPath("a"))
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	if err := d.renewHolder(d.holder); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if age := time.Since(fi.ModTime()); age > time.Minute {
		t.Errorf("lock file not refreshed: %v old", age)
	}
	if len(holderFiles(t, d)) != 1 {
		t.Error("holder file not made again")
	}
	if err := unlock(); err != nil {
		t.Errorf("unlock: %v", err)
	}
}

// Another process took the lock while its file stood removed: the
// holder's refresh leaves it to that process and marks the hold lost,
// which its unlock reports (ErrLockLost); it does not take the lock back
// when that process releases it.
func TestLockTakenWhileRemovedIsLost(t *testing.T) {
	d := newTestDir(t)
	ctx := t.Context()
	unlock, err := d.TryLock(ctx, "daemon")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(d.root, lockDir)); err != nil {
		t.Fatal(err)
	}
	other, err := NewDir(d.root)
	if err != nil {
		t.Fatal(err)
	}
	ou, err := other.TryLock(ctx, "daemon")
	if err != nil {
		t.Fatal(err)
	}
	theirs := readLockInfo(t, other, "daemon")
	if err := d.renewHolder(d.holder); err != nil {
		t.Fatal(err)
	}
	if got := readLockInfo(t, other, "daemon"); got.Token != theirs.Token {
		t.Errorf("the other process's lock file replaced (token %q, want %q)", got.Token, theirs.Token)
	}
	if err := ou(); err != nil {
		t.Errorf("the other process's unlock: %v", err)
	}
	if err := d.renewHolder(d.holder); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(d.root, lockPath("daemon"))); err == nil {
		t.Error("a lost hold took the lock back when it stood free")
	}
	if err := unlock(); !errors.Is(err, ErrLockLost) {
		t.Errorf("unlock of a lost hold = %v, want ErrLockLost", err)
	}
}

// The refresh does this by itself, every StaleLockAfter/4: the lock
// directory removed, the lock file comes back, with links and without.
func TestLockDirRemovedRefreshRuns(t *testing.T) {
	for _, links := range []bool{true, false} {
		name := "links"
		if !links {
			name = "own files"
		}
		t.Run(name, func(t *testing.T) {
			d := newTestDir(t)
			d.noHardLinks = !links
			// Others judge staleness by their own StaleLockAfter (the
			// default): this one only sets the refresh's pace.
			d.StaleLockAfter = 40 * time.Millisecond
			unlock, err := d.TryLock(t.Context(), "daemon")
			if err != nil {
				t.Fatal(err)
			}
			before := readLockInfo(t, d, "daemon")
			if err := os.RemoveAll(filepath.Join(d.root, lockDir)); err != nil {
				t.Fatal(err)
			}
			r, err := openTree(d.root)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// Written whole: a file of its own is created, then written.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				if token, err := readToken(r, lockPath("daemon")); err == nil && token == before.Token {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("lock file not put back by the refresh in 10 s")
				}
			}
			wantBusy(t, d, "daemon", before.Acquired)
			if err := unlock(); err != nil {
				t.Errorf("unlock: %v", err)
			}
		})
	}
}

// Without hard links, a lock file made by another process while the
// hold's own stood removed is left to it, and the unlock reports the loss.
func TestOwnLockFileTakenWhileRemovedIsLost(t *testing.T) {
	d := newTestDir(t)
	d.noHardLinks = true
	ctx := t.Context()
	unlock, err := d.TryLock(ctx, "daemon")
	if err != nil {
		t.Fatal(err)
	}
	mine := readLockInfo(t, d, "daemon")
	if err := os.RemoveAll(filepath.Join(d.root, lockDir)); err != nil {
		t.Fatal(err)
	}
	other, err := NewDir(d.root)
	if err != nil {
		t.Fatal(err)
	}
	ou, err := other.TryLock(ctx, "daemon")
	if err != nil {
		t.Fatal(err)
	}
	if refreshLockFile(d.holder.r, lockPath("daemon"), mine) {
		t.Error("refresh kept a hold whose lock file another process made")
	}
	if err := ou(); err != nil {
		t.Errorf("the other process's unlock: %v", err)
	}
	if err := unlock(); !errors.Is(err, ErrLockLost) {
		t.Errorf("unlock of a lost hold = %v, want ErrLockLost", err)
	}
}

// A lock file of another process at the name, whose inode number is that
// of this process's removed one (inode numbers are reused: simulated here
// by recording the other file as the hold's), is not taken for this
// process's: the hold is lost, the other's file left as it is.
func TestLockFileInodeReusedIsLost(t *testing.T) {
	d := newTestDir(t)
	ctx := t.Context()
	unlock, err := d.Lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range holderFiles(t, d) {
		os.Remove(h)
	}
	p := filepath.Join(d.root, lockPath("a"))
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	other, err := NewDir(d.root)
	if err != nil {
		t.Fatal(err)
	}
	ou, err := other.TryLock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	d.holdMu.Lock()
	hd := d.holds["a"]
	hd.info, err = d.holder.lstat(lockPath("a"))
	d.holdMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.renewHolder(d.holder); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || time.Since(fi.ModTime()) < time.Minute {
		t.Errorf("the other process's lock file touched or gone (%v)", err)
	}
	if err := unlock(); !errors.Is(err, ErrLockLost) {
		t.Errorf("unlock of a lost hold = %v, want ErrLockLost", err)
	}
	if err := ou(); err != nil {
		t.Errorf("the other process's unlock: %v", err)
	}
}
