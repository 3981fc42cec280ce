package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// SweepLeftovers clears every certificate's leftovers and records the
// boot: a process started later in it skips the look at its first lock of
// a certificate (a temporary file planted without a lock file stays: no
// writer of this boot can have left it), until the lock directory is
// removed, which takes the marker with it.
func TestSweepLeftovers(t *testing.T) {
	ctx := t.Context()
	const ca = "https://ca.test/dir"
	d := newTestDir(t)
	c := &Certs{Store: d}
	if d.boot() == "" {
		t.Fatal("this system names no boot (" + bootIDFile + ")")
	}
	names := []string{"a.test", "b.test", "*.c.test"}
	for _, name := range names {
		ps := testPairs(t, 1, name)
		if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: ps[0].key, ChainPEM: ps[0].chain}); err != nil {
			t.Fatal(err)
		}
	}
	plant := func(name string) string {
		t.Helper()
		enc, err := EncodeName(name)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(d.Root(), "certificates", "ca.test_dir", enc)
		tmp, err := makeTemp(dir, "cert.pem", func(p string) error { return os.WriteFile(p, []byte("half"), 0o600) })
		if err != nil {
			t.Fatal(err)
		}
		return tmp
	}
	gone := func(p string, want bool) {
		t.Helper()
		_, err := os.Lstat(p)
		if got := errors.Is(err, fs.ErrNotExist); got != want {
			t.Errorf("%s removed: %v, want %v (%v)", p, got, want, err)
		}
	}

	// A new process sweeps: every certificate's leftovers go.
	var planted []string
	for _, name := range names {
		planted = append(planted, plant(name))
	}
	nd, err := NewDir(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	if nd.sweptThisBoot() {
		t.Fatal("swept before the sweep")
	}
	c = &Certs{Store: nd}
	if err := c.SweepLeftovers(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range planted {
		gone(p, true)
	}
	if !nd.sweptThisBoot() {
		t.Error("the sweeping process does not take the boot as swept")
	}

	// A later process of the same boot: no look at a free lock.
	later := plant("a.test")
	nd, err = NewDir(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	c = &Certs{Store: nd}
	if err := c.SaveState(ctx, ca, "a.test", []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	gone(later, false)
	if err := c.SweepLeftovers(ctx); err != nil { // swept: nothing to do
		t.Fatal(err)
	}
	gone(later, false)

	// The lock directory removed: the marker with it, a look again.
	if err := os.RemoveAll(filepath.Join(d.Root(), lockDir)); err != nil {
		t.Fatal(err)
	}
	nd, err = NewDir(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	c = &Certs{Store: nd}
	if err := c.SaveState(ctx, ca, "a.test", []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	gone(later, true)

	// A store with no certificate yet (no lock directory) is swept too.
	empty := newTestDir(t)
	if err := (&Certs{Store: empty}).SweepLeftovers(ctx); err != nil || !empty.sweptThisBoot() {
		t.Errorf("an empty store's sweep: %v, swept %v", err, empty.sweptThisBoot())
	}

	// Another Store, and LayoutShared, have nothing to sweep.
	if err := (&Certs{Store: NewMemory()}).SweepLeftovers(ctx); err != nil {
		t.Error(err)
	}
	shared := newTestDir(t)
	if err := (&Certs{Store: shared, Layout: LayoutShared}).SweepLeftovers(ctx); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(shared.Root(), lockDir, sweptFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LayoutShared marked swept: %v", err)
	}
}
