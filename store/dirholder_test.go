package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// holderFiles returns the holder files in d's lockDir.
func holderFiles(t *testing.T, d *Dir) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(d.root, lockDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), holderSuffix) {
			out = append(out, filepath.Join(d.root, lockDir, e.Name()))
		}
	}
	return out
}

// The locks a process holds are links to one holder file, which goes
// when the last is released; nothing is left in lockDir.
func TestLockLinksToHolder(t *testing.T) {
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
	hs := holderFiles(t, d)
	if len(hs) != 1 {
		t.Fatalf("holder files %q, want one", hs)
	}
	hfi, err := os.Stat(hs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		fi, err := os.Stat(filepath.Join(d.root, lockPath(name)))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(fi, hfi) || fi.Mode() != 0o600 {
			t.Errorf("lock file of %q is not a link to the holder file (mode %v)", name, fi.Mode())
		}
	}
	if err := ua(); err != nil {
		t.Fatal(err)
	}
	if len(holderFiles(t, d)) != 1 {
		t.Error("holder file removed while a lock is held")
	}
	if err := ub(); err != nil {
		t.Fatal(err)
	}
	if err := ub(); err == nil {
		t.Error("second unlock returned nil")
	}
	if ents, _ := os.ReadDir(filepath.Join(d.root, lockDir)); len(ents) != 0 {
		t.Errorf("left in %s: %v", lockDir, ents)
	}
}

// A holder file removed under a held lock (someone cleaning lockDir) is
// made again for the next lock; both locks release cleanly.
func TestLockHolderRemovedWhileHeld(t *testing.T) {
	d := newTestDir(t)
	ctx := t.Context()
	ua, err := d.Lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range holderFiles(t, d) {
		os.Remove(h)
	}
	ub, err := d.Lock(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if len(holderFiles(t, d)) != 1 {
		t.Error("holder file not made again")
	}
	if err := ua(); err != nil {
		t.Errorf("unlock a: %v", err)
	}
	if err := ub(); err != nil {
		t.Errorf("unlock b: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.root, lockDir)); len(ents) != 0 {
		t.Errorf("left in %s: %v", lockDir, ents)
	}
}

// The lock directory removed (and made again by another process) while
// this process holds a lock: a later lock is made in the directory there
// now, where other processes look, not in the removed one that the
// holder had open, and it excludes them; the lock held before is put
// back there with it (no one took it meanwhile).
func TestLockDirRemovedWhileHeld(t *testing.T) {
	d := newTestDir(t)
	ctx := t.Context()
	ua, err := d.Lock(ctx, "a")
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
	uc, err := other.Lock(ctx, "c") // makes lockDir again
	if err != nil {
		t.Fatal(err)
	}
	ub, err := d.Lock(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(d.root, lockPath("b"))); err != nil {
		t.Fatalf("lock b not in the lock directory other processes see: %v", err)
	}
	if _, err := other.TryLock(ctx, "b"); !errors.Is(err, ErrLockBusy) {
		t.Errorf("another process took b while held: %v", err)
	}
	if _, err := other.TryLock(ctx, "a"); !errors.Is(err, ErrLockBusy) {
		t.Errorf("another process took a, held before lockDir was removed: %v", err)
	}
	if err := ub(); err != nil {
		t.Errorf("unlock b: %v", err)
	}
	if err := uc(); err != nil {
		t.Errorf("unlock c: %v", err)
	}
	if err := ua(); err != nil {
		t.Errorf("unlock a, put back: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.root, lockDir)); len(ents) != 0 {
		t.Errorf("left in %s: %v", lockDir, ents)
	}
}

// The holder files of processes that died are removed by the next
// process's first lock; those of live holders stay.
func TestSweepDeadHolders(t *testing.T) {
	d := newTestDir(t)
	d.StaleLockAfter = time.Minute
	me := selfProcess()
	if me == nil {
		t.Skip("no process identity on this system")
	}
	host, _ := os.Hostname()
	dir := filepath.Join(d.root, lockDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	plant := func(name string, li lockInfo, age time.Duration) string {
		p := filepath.Join(dir, name+holderSuffix)
		r, err := openTree(d.root)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := createLockFile(r, filepath.Join(lockDir, name+holderSuffix), li); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		os.Chtimes(p, old, old)
		return p
	}
	dead := plant("dead", lockInfo{PID: 1 << 22, Host: host, Process: &processID{Boot: me.Boot, PIDNS: me.PIDNS, Start: "1"}}, 0)
	stale := plant("stale", lockInfo{PID: 1, Host: host + "-other"}, time.Hour)
	live := plant("live", lockInfo{PID: 1, Host: host + "-other"}, 0)
	unlock, err := d.Lock(t.Context(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	for p, want := range map[string]bool{dead: false, stale: false, live: true} {
		_, err := os.Stat(p)
		if got := err == nil; got != want {
			t.Errorf("%s there: %v, want %v", filepath.Base(p), got, want)
		}
	}
}

// A file system without hard links: each lock is a file of its own,
// created with O_EXCL, as before holder files.
func TestLockWithoutHardLinks(t *testing.T) {
	d := newTestDir(t)
	d.noHardLinks = true
	ctx := t.Context()
	unlock, err := d.Lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(d.root, lockPath("a")))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range holderFiles(t, d) {
		if hfi, err := os.Stat(h); err == nil && os.SameFile(fi, hfi) {
			t.Error("lock file is a link to the holder file")
		}
	}
	c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := d.Lock(c, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Lock = %v, want to wait", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.root, lockDir)); len(ents) != 0 {
		t.Errorf("left in %s: %v", lockDir, ents)
	}
}

// lockerEnv names, in a child process of TestLockExcludes, the store
// directory and the lock files' kind it locks with.
const lockerEnv = "CERTKEEPER_TEST_LOCKER"

// TestLockExcludes checks the exclusion itself: goroutines of this
// process on two Dirs of one directory, and a child process whose locks
// are files of their own (as a certkeeper before holder files made them),
// each increment a counter file under the lock many times, failing if
// they find another inside.
func TestLockExcludes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	root := t.TempDir()
	const perWorker = 40
	child := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestLockExcludesChild$", "-test.count=1")
	child.Env = append(os.Environ(), lockerEnv+"="+root)
	var out strings.Builder
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 2 {
		d, err := NewDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			wg.Go(func() { errs <- incrementUnderLock(t.Context(), d, perWorker, i) })
		}
	}
	wg.Wait()
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(root, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(data)), strconv.Itoa(7*perWorker); got != want {
		t.Errorf("counter %s, want %s: increments were lost", got, want)
	}
}

// TestLockExcludesChild is TestLockExcludes's other process.
func TestLockExcludesChild(t *testing.T) {
	root := os.Getenv(lockerEnv)
	if root == "" {
		t.Skip("run by TestLockExcludes")
	}
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	d.noHardLinks = true
	if err := incrementUnderLock(t.Context(), d, 40, 9); err != nil {
		t.Fatal(err)
	}
}

func incrementUnderLock(ctx context.Context, d *Dir, n, who int) error {
	inside := filepath.Join(d.root, "inside")
	counter := filepath.Join(d.root, "counter")
	for range n {
		unlock, err := d.Lock(ctx, "counter")
		if err != nil {
			return err
		}
		f, err := os.OpenFile(inside, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			unlock()
			return fmt.Errorf("worker %d found another inside: %w", who, err)
		}
		f.Close()
		data, _ := os.ReadFile(counter)
		c, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if err := os.WriteFile(counter, []byte(strconv.Itoa(c+1)), 0o600); err != nil {
			unlock()
			return err
		}
		os.Remove(inside)
		if err := unlock(); err != nil {
			return err
		}
	}
	return nil
}

// An empty lock file (its writer killed between creating and writing it,
// or a power loss) is taken over once it has stood unwritten for
// tornLockAfter, not after StaleLockAfter; a fresh empty one is left to
// its writer.
func TestEmptyLockFileTakenOver(t *testing.T) {
	d := newTestDir(t)
	d.StaleLockAfter = time.Hour
	p := filepath.Join(d.root, lockPath("x"))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	if _, err := d.Lock(c, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a fresh empty lock file was taken over: %v", err)
	}
	cancel()
	old := time.Now().Add(-2 * tornLockAfter)
	os.Chtimes(p, old, old)
	c, cancel = context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	unlock, err := d.Lock(c, "x")
	if err != nil {
		t.Fatalf("empty lock file of %v ago not taken over: %v", 2*tornLockAfter, err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
}
