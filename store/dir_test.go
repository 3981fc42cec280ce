package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func newTestDir(t *testing.T) *Dir {
	t.Helper()
	d, err := NewDir(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Files are 0600 and directories 0700 whatever the umask: one that keeps
// the owner's bits makes them so (no chmod after), one that clears some
// (0277, no one uses it) gets a chmod.
func TestDirPermissions(t *testing.T) {
	for _, umask := range []int{0o022, 0o277} {
		t.Run(fmt.Sprintf("%04o", umask), func(t *testing.T) { testDirPermissions(t, umask) })
	}
}

func testDirPermissions(t *testing.T, umask int) {
	old := setUmask(umask)
	defer setUmask(old)
	d := newTestDir(t)
	if r, err := d.held(); err != nil || r.modesKept != (umask&0o700 == 0) {
		t.Fatalf("umask %04o: modes kept %v (%v)", umask, r != nil && r.modesKept, err)
	}
	ctx := context.Background()
	for _, k := range []string{"a/b/c.key", "a/b/cert.pem", "top.pem"} {
		if err := d.Put(ctx, k, []byte("secret")); err != nil {
			t.Fatal(err)
		}
	}
	// Rewriting keeps the mode.
	if err := d.Put(ctx, "top.pem", []byte("again")); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		"":             0o700 | os.ModeDir,
		"a":            0o700 | os.ModeDir,
		"a/b":          0o700 | os.ModeDir,
		"a/b/c.key":    0o600,
		"a/b/cert.pem": 0o600,
		"top.pem":      0o600,
	} {
		fi, err := os.Stat(filepath.Join(d.Root(), p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%q: mode %v, want %v", p, fi.Mode(), want)
		}
	}
	unlock, err := d.Lock(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	// A lock file holds no secret: 0600 less the umask.
	fi, err := os.Stat(filepath.Join(d.Root(), lockPath("x")))
	if want := os.FileMode(0o600 &^ umask); err != nil || fi.Mode() != want {
		t.Errorf("lock file: %v, %v; want mode %v", fi.Mode(), err, want)
	}
}

// TestDirCrashLeftovers simulates a crash between writing a temporary file
// and renaming it: the leftover is invisible to List and Get.
func TestDirCrashLeftovers(t *testing.T) {
	d := newTestDir(t)
	ctx := context.Background()
	if err := d.Put(ctx, "certificates/ca/www/cert.pem", []byte("whole")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(d.Root(), "certificates", "ca", "www")
	if err := os.WriteFile(filepath.Join(dir, ".tmp-0123456789abcdef"), []byte("ha"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(d.Root(), ".hidden"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d.Root(), ".hidden", "x"), nil, 0o600)
	os.WriteFile(filepath.Join(d.Root(), "not a key"), nil, 0o600) // another program's file
	keys, err := d.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"certificates/ca/www/cert.pem"}; !slices.Equal(keys, want) {
		t.Errorf("List = %q, want %q", keys, want)
	}
	if v, err := d.Get(ctx, "certificates/ca/www/cert.pem"); err != nil || string(v) != "whole" {
		t.Errorf("Get = %q, %v", v, err)
	}
	if _, err := d.Get(ctx, "certificates/ca/www/.tmp-0123456789abcdef"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Get of the temporary file: %v", err)
	}
}

// TestDirFailedPutLeavesNothing makes the final rename fail and checks
// that the temporary file is gone and the old state intact.
func TestDirFailedPutLeavesNothing(t *testing.T) {
	d := newTestDir(t)
	ctx := context.Background()
	if err := d.Put(ctx, "a/b/c", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// "a/b" is a non-empty directory: renaming a file over it fails.
	if err := d.Put(ctx, "a/b", []byte("y")); err == nil {
		t.Fatal("Put over a directory succeeded")
	}
	entries, err := os.ReadDir(filepath.Join(d.Root(), "a"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "b" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if v, err := d.Get(ctx, "a/b/c"); err != nil || string(v) != "x" {
		t.Errorf("Get = %q, %v", v, err)
	}
}

func TestDirGetTooLarge(t *testing.T) {
	d := newTestDir(t)
	p := filepath.Join(d.Root(), "big")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, MaxValueSize+1); err != nil {
		t.Fatal(err)
	}
	_, err := d.Get(context.Background(), "big")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "16 MiB") {
		t.Errorf("Get: %v, want ErrTooLarge", err)
	}
}

// TestDirSymlinkEscape checks that a symbolic link inside the tree that
// points outside it does not let a key through.
func TestDirSymlinkEscape(t *testing.T) {
	d := newTestDir(t)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o600)
	if err := os.Symlink(outside, filepath.Join(d.Root(), "evil")); err != nil {
		t.Fatal(err) // a failure here would otherwise hide the check below
	}
	ctx := context.Background()
	// The error says why, as os.Root's did ("path escapes from
	// parent"), not in the words of openat2's EXDEV ("invalid
	// cross-device link").
	escapes := func(op string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "escapes") || strings.Contains(err.Error(), "cross-device") {
			t.Errorf("%s through an escaping link: %v, want an error saying the path escapes", op, err)
		}
	}
	v, err := d.Get(ctx, "evil/secret")
	if err == nil {
		t.Errorf("Get through an escaping link = %q", v)
	}
	escapes("Get", err)
	err = d.Put(ctx, "evil/new", []byte("x"))
	if err == nil {
		t.Error("Put through an escaping link succeeded")
	}
	escapes("Put", err)
	_, err = d.Stat(ctx, "evil/secret")
	escapes("Stat", err)
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Error("file written outside the root")
	}
	if keys, _ := d.List(ctx, ""); len(keys) != 0 {
		t.Errorf("List = %q", keys)
	}
}

func TestDirStaleLockTakeover(t *testing.T) {
	d := newTestDir(t)
	d.StaleLockAfter = time.Second
	ctx := context.Background()
	// A holder that died: its lock file was last touched long ago.
	if err := os.MkdirAll(filepath.Join(d.Root(), lockDir), 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(d.Root(), lockPath("order/www.example.com"))
	if err := os.WriteFile(p, []byte(`{"pid":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)

	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	unlock, err := d.Lock(c, "order/www.example.com")
	if err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file still there: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(d.Root(), lockDir))
	if len(entries) != 0 {
		t.Errorf("left in %s: %v", lockDir, entries)
	}
}

// TestDirLockRefresh holds a lock for several staleness periods: the
// holder's refresh must keep waiters out.
func TestDirLockRefresh(t *testing.T) {
	d := newTestDir(t)
	d.StaleLockAfter = 100 * time.Millisecond
	ctx := context.Background()
	unlock, err := d.Lock(ctx, "held")
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := d.Lock(c, "held"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("live lock taken over: %v", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
}

// TestDirLockLost checks that a holder whose lock was taken over learns
// of it from unlock, and does not remove the new holder's lock.
func TestDirLockLost(t *testing.T) {
	d := newTestDir(t)
	d.StaleLockAfter = time.Hour
	ctx := context.Background()
	unlock, err := d.Lock(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(d.Root(), lockPath("x"))
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(p, old, old) // as if the holder had stalled
	unlock2, err := d.Lock(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err == nil {
		t.Error("unlock of a lost lock returned nil")
	}
	if _, err := os.Stat(p); err != nil {
		t.Errorf("the new holder's lock file was removed: %v", err)
	}
	if err := unlock2(); err != nil {
		t.Error(err)
	}
}

func TestNewDir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	if _, err := NewDir(f); err == nil {
		t.Error("NewDir on a file succeeded")
	}
	if _, err := NewDir(""); err == nil {
		t.Error("NewDir(\"\") succeeded")
	}
	d := newTestDir(t)
	if p, err := d.Path("a/b.pem"); err != nil || p != filepath.Join(d.Root(), "a", "b.pem") {
		t.Errorf("Path = %q, %v", p, err)
	}
	if _, err := d.Path("../x"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Path(../x): %v", err)
	}
}

func TestOpenDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "store")
	if _, err := OpenDir(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenDir(missing) = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenDir created something: %v", err)
	}
	d, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.List(t.Context(), ""); err != nil {
		t.Error(err)
	}
}

func TestCheckWritable(t *testing.T) {
	d := newTestDir(t)
	if err := d.CheckWritable(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(d.Root()); len(ents) != 0 {
		t.Errorf("CheckWritable left %v", ents)
	}
	if os.Geteuid() != 0 { // root writes anywhere
		os.Chmod(d.Root(), 0o500)
		defer os.Chmod(d.Root(), 0o700)
		if err := d.CheckWritable(t.Context()); !errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "writable.") {
			t.Errorf("CheckWritable of a read-only directory = %v, want a permission error without the probe file's name", err)
		}
	}
	os.RemoveAll(d.Root())
	if err := d.CheckWritable(t.Context()); err == nil {
		t.Error("CheckWritable of a removed directory succeeded")
	}
}

func TestDirTryLock(t *testing.T) {
	d := newTestDir(t)
	ctx := t.Context()
	unlock, err := d.Lock(ctx, "daemon")
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	_, err = d.TryLock(ctx, "daemon")
	var lb *LockBusyError
	if !errors.Is(err, ErrLockBusy) || !errors.As(err, &lb) || lb.PID != os.Getpid() || lb.Name != "daemon" ||
		!strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())+" on "+host) || strings.Count(err.Error(), "lock") != 1 {
		t.Errorf("TryLock of a held lock = %v, want a *LockBusyError naming this process, saying it once", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	unlock, err = d.TryLock(ctx, "daemon")
	if err != nil {
		t.Fatalf("TryLock of a free lock: %v", err)
	}
	// A holder that stopped refreshing its lock file is taken over.
	d2 := &Dir{root: d.Root(), StaleLockAfter: time.Minute}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(d.Root(), lockPath("daemon")), old, old)
	unlock2, err := d2.TryLock(ctx, "daemon")
	if err != nil {
		t.Fatalf("TryLock of a stale lock: %v", err)
	}
	unlock2()
	unlock() // reports the takeover
}

func TestMemoryTryLock(t *testing.T) {
	m := NewMemory()
	unlock, err := m.TryLock(t.Context(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.TryLock(t.Context(), "x"); !errors.Is(err, ErrLockBusy) {
		t.Errorf("TryLock of a held lock = %v", err)
	}
	unlock()
	if unlock, err := m.TryLock(t.Context(), "x"); err != nil {
		t.Errorf("TryLock after unlock: %v", err)
	} else {
		unlock()
	}
}

func TestDirSymlink(t *testing.T) {
	d := newTestDir(t)
	ctx := t.Context()
	for _, bad := range []string{"../../x", "/etc/passwd", "", "../.locks/x"} {
		if err := d.Symlink(ctx, "a/link", bad); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Symlink to %q: %v, want ErrInvalidKey", bad, err)
		}
	}
	d.Put(ctx, "a/v/1/f", []byte("one"))
	d.Put(ctx, "a/v/2/f", []byte("two"))
	d.Put(ctx, "a/plain", []byte("x"))
	for _, target := range []string{"v/1", "v/2"} {
		if err := d.Symlink(ctx, "a/live", target); err != nil {
			t.Fatal(err)
		}
		if got, err := d.Readlink(ctx, "a/live"); err != nil || got != target {
			t.Errorf("Readlink = %q, %v", got, err)
		}
	}
	if v, err := d.Get(ctx, "a/live/f"); err != nil || string(v) != "two" {
		t.Errorf("Get through the link = %q, %v", v, err)
	}
	if _, err := d.Readlink(ctx, "a/plain"); !errors.Is(err, ErrNotLink) {
		t.Errorf("Readlink of a file: %v", err)
	}
	if _, err := d.Readlink(ctx, "a/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Readlink of nothing: %v", err)
	}
	// A link replaces a file atomically, and Delete removes the link only.
	if err := d.Symlink(ctx, "a/plain", "v/1/f"); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "a/live"); err != nil {
		t.Fatal(err)
	}
	if v, err := d.Get(ctx, "a/v/2/f"); err != nil || string(v) != "two" {
		t.Errorf("the link's target after Delete: %q, %v", v, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.Root(), "a")); len(ents) != 2 {
		t.Errorf("a/ holds %v (temporary links left?)", ents)
	}
}

// A temporary file a killed writer left is removed by a later Put in its
// directory once it is stale, the first one staleScanEvery after the
// last look there; a fresh one (a writer at work) is not.
func TestPutRemovesStaleTemps(t *testing.T) {
	ctx := context.Background()
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "a/x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(d.Root(), "a", ".tmp-dead")
	fresh := filepath.Join(d.Root(), "a", ".tmp-busy")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleTempAfter)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	// The last look at a/ was staleScanEvery ago.
	d.scannedMu.Lock()
	d.scannedSince = d.scannedSince.Add(-staleScanEvery - time.Second)
	d.scannedMu.Unlock()
	if err := d.Put(ctx, "a/y", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file: %v, want removed", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file: %v, want kept", err)
	}
}

// PutBatch writes every entry, in directories it makes, 0600, and leaves
// no temporary file; an entry it refuses (too large) fails the batch
// before anything is renamed.
func TestPutBatch(t *testing.T) {
	ctx := context.Background()
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "v/1/cert.pem", []byte("old")); err != nil {
		t.Fatal(err)
	}
	batch := []Entry{{"v/1/key.pem", []byte("k")}, {"v/2/new/meta.json", []byte("m")}, {"v/1/cert.pem", []byte("c")}}
	if err := d.PutBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, e := range batch {
		got, err := d.Get(ctx, e.Key)
		if err != nil || string(got) != string(e.Value) {
			t.Errorf("%s: %q, %v; want %q", e.Key, got, err, e.Value)
		}
		p, _ := d.Path(e.Key)
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", e.Key, fi.Mode(), err)
		}
	}
	refused := []Entry{{"v/1/key.pem", []byte("k2")}, {"v/1/cert.pem", make([]byte, MaxValueSize+1)}}
	if err := d.PutBatch(ctx, refused); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized entry: %v, want ErrTooLarge", err)
	}
	if got, _ := d.Get(ctx, "v/1/key.pem"); string(got) != "k" {
		t.Errorf("v/1/key.pem after a refused batch: %q, want the old value", got)
	}
	filepath.WalkDir(d.Root(), func(p string, de fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(de.Name(), tempPrefix) {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

// PutRelaxed replaces a value atomically, as Put does, and leaves no
// temporary file.
func TestPutRelaxed(t *testing.T) {
	ctx := context.Background()
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"first", "second"} {
		if err := d.PutRelaxed(ctx, "manager/ca/name.json", []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got, err := d.Get(ctx, "manager/ca/name.json"); err != nil || string(got) != v {
			t.Errorf("Get: %q, %v; want %q", got, err, v)
		}
	}
	ents, err := os.ReadDir(filepath.Join(d.Root(), "manager", "ca"))
	if err != nil || len(ents) != 1 {
		t.Errorf("manager/ca holds %v (%v), want name.json alone", ents, err)
	}
	if err := d.PutRelaxed(ctx, "../x", []byte("1")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("invalid key: %v, want ErrInvalidKey", err)
	}
}

// In a directory of bigDir entries or more (one state per certificate), a
// lock holder's removal of its key's temporary files looks at what the
// directory held at most tempLookEvery ago; in a small one, at what it
// holds now.
func TestRemoveTempsBigDirectory(t *testing.T) {
	ctx := context.Background()
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := range bigDir {
		if err := d.PutRelaxed(ctx, fmt.Sprintf("manager/ca/host-%d.json", i), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	leave := func() string {
		t.Helper()
		tmp, err := makeTemp(filepath.Join(d.Root(), "manager", "ca"), "host-1.json", func(name string) error {
			return os.WriteFile(name, []byte("half"), 0o600)
		})
		if err != nil {
			t.Fatal(err)
		}
		return tmp
	}
	gone := func(p string) bool {
		_, err := os.Stat(p)
		return errors.Is(err, fs.ErrNotExist)
	}
	first := leave()
	other, err := makeTemp(filepath.Join(d.Root(), "manager", "ca"), "host-2.json", func(name string) error {
		return os.WriteFile(name, []byte("half"), 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	d.removeTemps("manager/ca", "host-1.json")
	if !gone(first) {
		t.Errorf("%s: not removed", first)
	}
	if gone(other) {
		t.Errorf("%s, another key's, removed", other)
	}
	second := leave()
	d.removeTemps("manager/ca", "host-1.json")
	if gone(second) {
		t.Errorf("%s: removed though left after the last look (tempLookEvery ago at most)", second)
	}
	d.tempsMu.Lock()
	d.tempsSince = d.tempsSince.Add(-tempLookEvery - time.Second)
	d.tempsMu.Unlock()
	d.removeTemps("manager/ca", "host-1.json")
	if !gone(second) {
		t.Errorf("%s: not removed at the next look", second)
	}
	d.removeTemps("manager/ca", "host-2.json")
	if !gone(other) {
		t.Errorf("%s: not removed by its key's lock holder", other)
	}
}

// A store directory renamed away and made again under a running program:
// the reads and writes that follow go to the directory at the store's
// path, not to the one renamed away that the Dir had open.
func TestDirWritesFollowTheRootReplaced(t *testing.T) {
	ctx := t.Context()
	parent := t.TempDir()
	root := filepath.Join(parent, "store")
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "a/one", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, "a/one"); err != nil { // the held root opened
		t.Fatal(err)
	}
	// Every operation looks (it looks at most every sameFor otherwise).
	if r, err := d.held(); err == nil && r.sys != nil {
		lookEveryTime(r.sys)
	}
	if err := os.Rename(root, filepath.Join(parent, "old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "a/two", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "a", "two")); err != nil {
		t.Errorf("written after the replacement, not in the store's directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(parent, "old", "a", "two")); err == nil {
		t.Error("written into the directory renamed away")
	}
	if v, err := d.Get(ctx, "a/two"); err != nil || string(v) != "2" {
		t.Errorf("Get after the replacement: %q, %v; want what was written there", v, err)
	}
	if _, err := d.Get(ctx, "a/one"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get of a key only the directory renamed away holds: %v; want not found", err)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "a/three", []byte("3")); err == nil {
		t.Error("Put into a store whose directory is gone: no error")
	}
}
