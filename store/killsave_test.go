package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// dying is a Dir whose writer dies before its write number at: that
// write and every later one fail and change nothing, as if the process
// had been killed there.
type dying struct {
	*Dir
	at, n int
}

var errDied = errors.New("writer died")

func (s *dying) write() error {
	s.n++
	if s.at > 0 && s.n >= s.at {
		return errDied
	}
	return nil
}

func (s *dying) Put(ctx context.Context, key string, value []byte) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Dir.Put(ctx, key, value)
}

func (s *dying) PutRelaxed(ctx context.Context, key string, value []byte) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Dir.PutRelaxed(ctx, key, value)
}

// PutBatch counts each entry as a write: dying before entry i leaves
// entries[:i] written, as Dir.PutBatch killed between two renames does.
func (s *dying) PutBatch(ctx context.Context, entries []Entry) error {
	for i := range entries {
		if err := s.write(); err != nil {
			if perr := s.Dir.PutBatch(ctx, entries[:i]); perr != nil {
				return perr
			}
			return err
		}
	}
	return s.Dir.PutBatch(ctx, entries)
}

func (s *dying) Delete(ctx context.Context, key string) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Dir.Delete(ctx, key)
}

func (s *dying) Symlink(ctx context.Context, key, target string) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Dir.Symlink(ctx, key, target)
}

// topLevel reads the top-level files of a certificate directory as a web
// server configured with them does: it returns "" if none is there, the
// serial of the pair if cert.pem, key.pem and combined.pem are there and
// hold one pair, and an error otherwise.
func topLevel(dir string) (string, error) {
	var missing, present []string
	for _, f := range []string{"cert.pem", "key.pem", "combined.pem", "meta.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, f)
		} else if err != nil {
			return "", err
		} else {
			present = append(present, f)
		}
	}
	if len(present) == 0 {
		return "", nil
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%q there, %q missing", present, missing)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return "", fmt.Errorf("cert.pem and key.pem: %w", err)
	}
	combined, err := os.ReadFile(filepath.Join(dir, "combined.pem"))
	if err != nil {
		return "", err
	}
	one, err := tls.X509KeyPair(combined, combined)
	if err != nil {
		return "", fmt.Errorf("combined.pem: %w", err)
	}
	if !bytes.Equal(one.Certificate[0], pair.Certificate[0]) {
		return "", errors.New("combined.pem holds another certificate than cert.pem")
	}
	return pair.Leaf.SerialNumber.Text(16), nil
}

// TestSaveAllOrNothingAtTheTop kills a save (a first one, a renewal, and
// the first one over an unversioned certificate) before each of its
// writes: the top-level files a web server reads are, right after the
// kill, the previous certificate's (or none, before the first save), or
// the new one's, never some missing or a mix; and the next save leaves
// them whole.
func TestSaveAllOrNothingAtTheTop(t *testing.T) {
	ctx := t.Context()
	const ca, name = "https://ca.test/dir", "a.test"
	ps := testPairs(t, 3, name)
	for _, sc := range []string{"first", "renewal", "unversioned"} {
		t.Run(sc, func(t *testing.T) {
			for at := 1; ; at++ {
				d := newTestDir(t)
				dir := filepath.Join(d.Root(), "certificates", "ca.test_dir", name)
				c := &Certs{Store: d}
				switch sc {
				case "renewal":
					if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: ps[0].key, ChainPEM: ps[0].chain}); err != nil {
						t.Fatal(err)
					}
				case "unversioned":
					os.MkdirAll(dir, 0o700)
					os.WriteFile(filepath.Join(dir, "key.pem"), ps[0].key, 0o600)
					os.WriteFile(filepath.Join(dir, "cert.pem"), ps[0].chain, 0o600)
					os.WriteFile(filepath.Join(dir, "combined.pem"), combine(ps[0].key, ps[0].chain), 0o600)
					os.WriteFile(filepath.Join(dir, "meta.json"), []byte(`{"name":"`+name+`","ca":"`+ca+`"}`), 0o600)
				}
				before, err := topLevel(dir)
				if err != nil {
					t.Fatal(err)
				}
				s := &dying{Dir: d, at: at}
				err = (&Certs{Store: s}).SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: ps[1].key, ChainPEM: ps[1].chain})
				if err == nil {
					if at < 4 {
						t.Fatalf("a save of %d writes", at-1)
					}
					break // every write boundary done
				}
				if !errors.Is(err, errDied) {
					t.Fatalf("killed before write %d: %v", at, err)
				}
				got, err := topLevel(dir)
				if err != nil {
					t.Errorf("killed before write %d: top-level files: %v", at, err)
				}
				after := ""
				if err := (&Certs{Store: d}).SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: ps[1].key, ChainPEM: ps[1].chain}); err != nil {
					t.Fatal(err)
				}
				if after, err = topLevel(dir); err != nil || after == "" {
					t.Errorf("killed before write %d, then saved again: top-level files: %q, %v", at, after, err)
				}
				if got != before && got != after {
					t.Errorf("killed before write %d: top-level files hold %q, neither the previous certificate (%q) nor the new one (%q)", at, got, before, after)
				}
			}
		})
	}
}

// TestLockHolderRemovesLeftovers leaves what killed writers leave (the
// temporary files of a certificate's keys, a version without its chain,
// a top-level link the current version lacks) and checks that the next
// write of any of the certificate's records, made under its lock, clears
// them at once, whatever their age, and nothing of another certificate's
// or of another key in a shared directory.
//
// A writer that dies leaves its lock file (died, below): the next holder,
// even in a process that cleared the certificate before, takes the lock
// over and clears. A power loss may lose the lock file but keep the
// temporary files (restart): a new process clears at its first hold.
// In a boot whose leftovers were swept (SweepLeftovers), a new process
// skips that look at a lock it takes free, but not at one it takes over
// (died in a swept boot); a marker of another boot is no sweep (reboot).
func TestLockHolderRemovesLeftovers(t *testing.T) {
	ctx := t.Context()
	const ca = "https://ca.test/dir"
	for _, death := range []string{"died", "restart", "died-in-swept-boot", "reboot"} {
		for _, write := range []string{"state", "lineage", "revocation", "certificate"} {
			t.Run(death+"/"+write, func(t *testing.T) {
				testLockHolderRemovesLeftovers(t, ctx, ca, death, write)
			})
		}
	}
}

func testLockHolderRemovesLeftovers(t *testing.T, ctx context.Context, ca, death, write string) {
	d := newTestDir(t)
	c := &Certs{Store: d}
	ps := testPairs(t, 2, "a.test")
	if err := c.SaveCertificate(ctx, CertRecord{Name: "a.test", CA: ca, KeyPEM: ps[0].key, ChainPEM: ps[0].chain}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(d.Root(), "certificates", "ca.test_dir", "a.test")
	leave := func(key string) string {
		t.Helper()
		p := filepath.Join(d.Root(), filepath.FromSlash(key))
		os.MkdirAll(filepath.Dir(p), 0o700)
		tmp, err := makeTemp(filepath.Dir(p), filepath.Base(p), func(name string) error {
			return os.WriteFile(name, []byte("half"), 0o600)
		})
		if err != nil {
			t.Fatal(err)
		}
		return tmp
	}
	mine := []string{
		leave("certificates/ca.test_dir/a.test/cert.pem"),
		leave("certificates/ca.test_dir/a.test/live"),
		leave("certificates/ca.test_dir/a.test/lineage.json"),
		leave("certificates/ca.test_dir/a.test/versions/1/key.pem"),
		leave("certificates/ca.test_dir/a.test/versions/7/cert.pem"),
		leave("certificates/ca.test_dir/a.test/revoked/12ab.json"),
		leave("manager/ca.test_dir/a.test.json"),
	}
	theirs := []string{
		leave("certificates/ca.test_dir/b.test/cert.pem"),
		leave("manager/ca.test_dir/b.test.json"),
		leave("manager/ca.test_dir/a.test.jsonx"),
	}
	// A version being written when its writer died; then a
	// key.pem link that the current version, which has no key,
	// must not have.
	os.MkdirAll(filepath.Join(dir, "versions", "3"), 0o700)
	os.WriteFile(filepath.Join(dir, "versions", "3", "key.pem"), ps[1].key, 0o600)
	if err := c.SaveCertificate(ctx, CertRecord{Name: "a.test", CA: ca, ChainPEM: ps[1].chain}); err != nil {
		t.Fatal(err)
	}
	mine = append(mine, leave("certificates/ca.test_dir/a.test/versions/2/meta.json"))
	if err := os.Symlink("live/key.pem", filepath.Join(dir, "key.pem.x")); err != nil {
		t.Fatal(err)
	}
	os.Rename(filepath.Join(dir, "key.pem.x"), filepath.Join(dir, "key.pem"))
	os.MkdirAll(filepath.Join(dir, "versions", "5"), 0o700)
	os.WriteFile(filepath.Join(dir, "versions", "5", "key.pem"), ps[1].key, 0o600)
	diedHolding := func() {
		// The writer's lock file, last touched long ago.
		name := certLockName("ca.test_dir", "a.test")
		writeLockFile(t, d, name, lockInfo{PID: 1})
		old := time.Now().Add(-time.Hour)
		os.Chtimes(filepath.Join(d.root, lockPath(name)), old, old)
	}
	restart := func() {
		nd, err := NewDir(d.Root())
		if err != nil {
			t.Fatal(err)
		}
		c = &Certs{Store: nd}
	}
	switch death {
	case "died":
		diedHolding()
	case "restart":
		restart()
	case "died-in-swept-boot":
		diedHolding()
		writeSwept(t, d, currentBoot())
		restart()
		if !c.Store.(*Dir).sweptThisBoot() {
			t.Fatal("the marker of this boot not taken")
		}
	case "reboot":
		writeSwept(t, d, "another-boot")
		restart()
	}
	var err error
	switch write {
	case "state":
		err = c.SaveState(ctx, ca, "a.test", []byte("{}\n"))
	case "lineage":
		err = c.SaveLineage(ctx, Lineage{CA: ca, Name: "a.test", Identifiers: []string{"a.test"}})
	case "revocation":
		err = c.MarkRevoked(ctx, ca, "a.test", "ff", time.Now(), 0)
	case "certificate":
		err = c.Restore(ctx, ca, "a.test", 2)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range mine {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left: %v", p, err)
		}
	}
	for _, p := range theirs {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s (not this certificate's) removed: %v", p, err)
		}
	}
	for _, v := range []string{"3", "5", "7"} {
		if _, err := os.Lstat(filepath.Join(dir, "versions", v)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("version %s without a chain left: %v", v, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "key.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("key.pem beside a version without a key: %v", err)
	}
}

// writeSwept writes d's marker of a boot swept (see bootsweep.go).
func writeSwept(t *testing.T, d *Dir, boot string) {
	t.Helper()
	if boot == "" {
		t.Fatal("this system names no boot (" + bootIDFile + ")")
	}
	p := filepath.Join(d.Root(), lockDir, sweptFile)
	os.MkdirAll(filepath.Dir(p), 0o700)
	if err := os.WriteFile(p, []byte(sweptMagic+boot+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}
