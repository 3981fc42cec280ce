//go:build unix

package manager_test

// Issue 11, point 7: kill -9 at every write boundary of an obtain and a
// renewal leaves the store at least as good as before. A child process
// (this test binary, TestKillChild) runs one order on a Dir store through
// a wrapper that counts the store's writes (Put, Delete, Symlink) and
// kills the process with SIGKILL just before the k-th; the parent then
// checks the store, runs the order again without a kill (the recovery a
// restarted daemon makes) and checks the store once more.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/managertest"
	"github.com/certkeeper/certkeeper/store"
)

// killStore counts the writes to a Dir and kills the process just
// before write number at (0: never), or, if mid, in the middle of it: a
// Put or Symlink killed after its temporary file is complete and before
// the rename, the file named as Dir names it (".tmp-<base>.<16 hex
// digits>" beside the key; a restart that does not recognise it leaves it
// behind, and inspect reports that). It logs each write to stderr.
type killStore struct {
	*store.Dir
	at, n int
	mid   bool
}

var _ store.Linker = (*killStore)(nil)

func (k *killStore) write(op, key string, value []byte, target string) {
	k.n++
	fmt.Fprintf(os.Stderr, "WRITE %d %s %s\n", k.n, op, key)
	if k.n != k.at {
		return
	}
	if k.mid {
		p, err := k.Dir.Path(key)
		if err != nil {
			panic(err)
		}
		os.MkdirAll(filepath.Dir(p), 0o700)
		tmp := filepath.Join(filepath.Dir(p), ".tmp-"+filepath.Base(p)+".6b696c6c65643039")
		switch op {
		case "put":
			os.WriteFile(tmp, value, 0o600)
		case "symlink":
			os.Symlink(target, tmp)
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}

func (k *killStore) Put(ctx context.Context, key string, value []byte) error {
	k.write("put", key, value, "")
	return k.Dir.Put(ctx, key, value)
}

func (k *killStore) PutRelaxed(ctx context.Context, key string, value []byte) error {
	k.write("put", key, value, "")
	return k.Dir.PutRelaxed(ctx, key, value)
}

// PutBatch counts each entry as a write, as the Puts it stands for: a
// kill before entry i leaves entries[:i] written, as Dir.PutBatch killed
// between two renames does; mid, the temporary files of the entries not
// yet renamed are left too, as Dir.PutBatch leaves them.
func (k *killStore) PutBatch(ctx context.Context, entries []store.Entry) error {
	for i, e := range entries {
		if k.n+1 == k.at {
			if err := k.Dir.PutBatch(ctx, entries[:i]); err != nil {
				return err
			}
			if k.mid {
				for _, later := range entries[i+1:] {
					p, err := k.Dir.Path(later.Key)
					if err != nil {
						panic(err)
					}
					os.MkdirAll(filepath.Dir(p), 0o700)
					os.WriteFile(filepath.Join(filepath.Dir(p), ".tmp-"+filepath.Base(p)+".6b696c6c65643130"), later.Value, 0o600)
				}
			}
		}
		k.write("put", e.Key, e.Value, "")
	}
	return k.Dir.PutBatch(ctx, entries)
}

func (k *killStore) Delete(ctx context.Context, key string) error {
	k.write("delete", key, nil, "")
	return k.Dir.Delete(ctx, key)
}

func (k *killStore) Symlink(ctx context.Context, key, target string) error {
	k.write("symlink", key, nil, target)
	return k.Dir.Symlink(ctx, key, target)
}

// killStaleLock is Dir.StaleLockAfter in the children.
const killStaleLock = 300 * time.Millisecond

// killParallel bounds the cases run at once: the children mostly wait
// (for a stale lock, for the disk).
const killParallel = 6

// TestKillChild is the child process; it does nothing unless
// CERTKEEPER_KILL_ROOT is set.
func TestKillChild(t *testing.T) {
	root := os.Getenv("CERTKEEPER_KILL_ROOT")
	if root == "" {
		t.Skip("the child of TestKillAtEveryWriteBoundary")
	}
	at, _ := strconv.Atoi(os.Getenv("CERTKEEPER_KILL_AT"))
	days, _ := strconv.Atoi(os.Getenv("CERTKEEPER_KILL_DAY"))
	sn, _ := strconv.Atoi(os.Getenv("CERTKEEPER_KILL_SERIAL"))
	d, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	// A lock file left by a killed process is taken over once stale;
	// the default (two minutes) would only slow the test down.
	d.StaleLockAfter = killStaleLock
	ks := &killStore{Dir: d, at: at, mid: os.Getenv("CERTKEEPER_KILL_MID") != ""}
	clock := managertest.NewFakeClock(t0.Add(time.Duration(days) * day))
	ca := &fakeCA{clock: clock, life: 90 * day, serial: int64(sn)}
	m, err := manager.New(manager.Config{Store: ks, Clock: clock, Jitter: -1, Rand: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	manager.SetObtain(m, ca.obtain)
	manager.SetRenewalInfo(m, ca.renewalInfo)
	ctx := context.Background()
	if err := m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.RenewIfDue(ctx, "a.example.com"); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "WRITES %d\n", ks.n)
}

// runChild runs one order in a child on the store at root on day days,
// killed before write at (0: never). It returns the child's stderr and
// whether it was killed.
func runChild(t *testing.T, root string, at, days, serial int, mid bool) (string, bool) {
	t.Helper()
	return runChildTest(t, "TestKillChild", nil, root, at, days, serial, mid)
}

// runChildTest runs the test called name in a child, as runChild, with
// env added to its environment. It may be called from any goroutine: it
// reports a child that fails or hangs with t.Errorf.
func runChildTest(t *testing.T, name string, env []string, root string, at, days, serial int, mid bool) (string, bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	if mid {
		cmd.Env = append(cmd.Env, "CERTKEEPER_KILL_MID=1")
	}
	cmd.Env = append(cmd.Env,
		"CERTKEEPER_KILL_ROOT="+root,
		"CERTKEEPER_KILL_AT="+strconv.Itoa(at),
		"CERTKEEPER_KILL_DAY="+strconv.Itoa(days),
		"CERTKEEPER_KILL_SERIAL="+strconv.Itoa(serial))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Error(err)
		return "", false
	}
	// A child that hangs is a finding too: dump its goroutines.
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Signal(syscall.SIGQUIT) })
	err := cmd.Wait()
	if !timer.Stop() {
		t.Errorf("child (kill at %d, day %d) hung:\n%s", at, days, out.String())
		return out.String(), false
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return out.String(), true
		}
	}
	if err != nil {
		t.Errorf("child (kill at %d): %v\n%s", at, err, out.String())
	}
	return out.String(), false
}

// writesOf returns the writes a child logged.
func writesOf(out string) []string {
	var ws []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "WRITE ") {
			ws = append(ws, strings.TrimPrefix(l, "WRITE "))
		}
	}
	return ws
}

// storeCheck describes a store as a reader finds it.
type storeCheck struct {
	serial   string // of the certificate the store gives, "" if none
	problems []string
}

func (c *storeCheck) problem(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// inspect checks the store at root as readers use it: Certs, the files a
// web server reads, a new Manager; with leftovers listed if strict.
func inspect(t *testing.T, root string, strict bool) storeCheck {
	t.Helper()
	var c storeCheck
	d, err := store.OpenDir(root)
	if err != nil {
		c.problem("open: %v", err)
		return c
	}
	certs := &store.Certs{Store: d}
	ctx := context.Background()
	res, err := certs.LoadCertificate(ctx, testCA, "a.example.com")
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		c.problem("LoadCertificate: %v", err)
	case len(res.Certificates) == 0:
		c.problem("LoadCertificate: no certificate")
	default:
		c.serial = res.Certificates[0].SerialNumber.Text(16)
	}
	// A first save killed before its switch left a whole version and no
	// live link: readers read that version (store.ErrBrokenPointer), and
	// the files at the top are there once the next holder of the
	// certificate's lock makes it current (the restart).
	if c.serial != "" && (strict || res.PointerErr == nil) {
		// The files a web server is configured with: a matching pair.
		p, err := certs.Paths(testCA, "a.example.com")
		if err != nil {
			c.problem("Paths: %v", err)
		} else if _, err := tls.LoadX509KeyPair(p.Cert, p.Key); err != nil {
			c.problem("the files a server reads (%s, %s): %v", p.Cert, p.Key, err)
		}
		// A new Manager serves it.
		m, err := manager.New(manager.Config{Store: d})
		if err == nil {
			err = m.Manage(ctx, testCert("a.example.com"))
		}
		if err != nil {
			c.problem("a new Manager: %v", err)
		} else if m.Lookup("a.example.com") == nil {
			c.problem("a new Manager serves nothing")
		}
	}
	if !strict {
		return c
	}
	// Leftovers: temporary files, versions without a chain, versions that
	// cannot be read, a state about another certificate.
	filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(de.Name(), ".tmp-") {
			c.problem("leftover temporary file %s", rel)
		}
		if de.IsDir() && filepath.Base(filepath.Dir(p)) == "versions" {
			if _, err := os.Stat(filepath.Join(p, "cert.pem")); err != nil {
				c.problem("incomplete version %s left", rel)
			}
		}
		return nil
	})
	if vs, err := certs.Versions(ctx, testCA, "a.example.com"); err == nil {
		for _, v := range vs {
			if v.Err != nil {
				c.problem("version %d: %v", v.ID, v.Err)
			}
		}
	}
	// No state is fine (a Manager that loaded the certificate and had
	// nothing to do writes none); a state about another certificate is a
	// record half written.
	if sts, err := manager.LoadStatus(ctx, certs, testCA); err != nil {
		c.problem("LoadStatus: %v", err)
	} else if len(sts) > 1 || len(sts) == 1 && sts[0].Serial != c.serial {
		c.problem("the state describes serial %q, the store holds serial %q", sts[0].Serial, c.serial)
	}
	return c
}

// copyTree copies a store, links as links.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput(); err != nil {
		t.Errorf("cp: %v: %s", err, out)
	}
}

func TestKillAtEveryWriteBoundary(t *testing.T) {
	if testing.Short() {
		t.Skip("integration tier (runs a child process of this test binary per write): skipped under -short")
	}
	// The writes of one obtain and one renewal.
	base := t.TempDir()
	out, _ := runChild(t, base, 0, 0, 0, false)
	obtainWrites := writesOf(out)
	obtained := inspect(t, base, true)
	if len(obtainWrites) == 0 || obtained.serial == "" || len(obtained.problems) > 0 {
		t.Fatalf("obtain without a kill: serial %q, %q\n%s", obtained.serial, obtained.problems, out)
	}
	probe := t.TempDir()
	copyTree(t, base, probe)
	out, _ = runChild(t, probe, 0, 61, 100, false)
	renewWrites := writesOf(out)
	if c := inspect(t, probe, true); c.serial == obtained.serial || len(c.problems) > 0 {
		t.Fatalf("renewal without a kill: serial %q, %q\n%s", c.serial, c.problems, out)
	}
	t.Logf("obtain: %d writes; renewal: %d writes", len(obtainWrites), len(renewWrites))

	type finding struct{ scenario, boundary, when, problem string }
	var (
		mu    sync.Mutex
		found []finding
		wg    sync.WaitGroup
		sem   = make(chan struct{}, killParallel)
	)
	report := func(f finding) {
		mu.Lock()
		found = append(found, f)
		mu.Unlock()
	}
	for _, sc := range []struct {
		name   string
		writes []string
		day    int
		prev   string // serial that must stay usable, "" for none
	}{
		{"obtain", obtainWrites, 0, ""},
		{"renew", renewWrites, 61, obtained.serial},
	} {
		for k := 1; k <= len(sc.writes); k++ {
			for _, mid := range []bool{false, true} {
				if mid && !strings.Contains(sc.writes[k-1], "put ") && !strings.Contains(sc.writes[k-1], "symlink ") {
					continue
				}
				root := t.TempDir()
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					if sc.prev != "" {
						copyTree(t, base, root)
					}
					boundary := "before write " + sc.writes[k-1]
					if mid {
						boundary = "in the middle of write " + sc.writes[k-1]
					}
					out, killed := runChild(t, root, k, sc.day, 100, mid)
					if !killed {
						t.Errorf("%s: not killed %s\n%s", sc.name, boundary, out)
						return
					}
					// Right after the kill: the previous certificate, or
					// the new one, complete; never an unusable store.
					c := inspect(t, root, false)
					for _, p := range c.problems {
						report(finding{sc.name, boundary, "after the kill", p})
					}
					if sc.prev != "" && c.serial == "" {
						report(finding{sc.name, boundary, "after the kill", "no certificate usable"})
					}
					// A restart finishes the work and leaves nothing
					// behind.
					runChild(t, root, 0, sc.day, 200, false)
					c = inspect(t, root, true)
					for _, p := range c.problems {
						report(finding{sc.name, boundary, "after the restart", p})
					}
					if c.serial == "" || c.serial == sc.prev {
						report(finding{sc.name, boundary, "after the restart", fmt.Sprintf("not renewed (serial %q)", c.serial)})
					}
				})
			}
		}
	}
	wg.Wait()
	slices.SortFunc(found, func(a, b finding) int {
		return strings.Compare(a.scenario+a.boundary+a.when+a.problem, b.scenario+b.boundary+b.when+b.problem)
	})
	for _, f := range found {
		t.Errorf("%s, killed %s, %s: %s", f.scenario, f.boundary, f.when, f.problem)
	}
}
