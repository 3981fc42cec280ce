package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSaveReplacesForeignLive: the live link is the store's; one that
// leads anywhere but to one of the certificate's version directories
// (planted or corrupt) is replaced by the next save instead of failing it,
// and what it led to is not touched. A directory standing there cannot be
// replaced in one step: CheckSave says so before anything is ordered.
func TestSaveReplacesForeignLive(t *testing.T) {
	const ca = "https://ca.test/dir"
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, dir, outside string)
	}{
		{"outside", func(t *testing.T, dir, outside string) { relink(t, filepath.Join(dir, "live"), outside) }},
		{"loop", func(t *testing.T, dir, _ string) { relink(t, filepath.Join(dir, "live"), "live") }},
		{"not a version", func(t *testing.T, dir, _ string) { relink(t, filepath.Join(dir, "live"), "versions") }},
		{"version is a link", func(t *testing.T, dir, outside string) {
			v := filepath.Join(dir, "versions", "1")
			if err := os.Rename(v, filepath.Join(outside, "1")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(outside, "1"), v); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDir(t)
			c := &Certs{Store: d}
			ctx := t.Context()
			ps := testPairs(t, 2, "a.test")
			if err := c.SaveCertificate(ctx, CertRecord{Name: "a.test", CA: ca, KeyPEM: ps[0].key, ChainPEM: ps[0].chain}); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(d.Root(), "certificates", "ca.test_dir", "a.test")
			outside := t.TempDir()
			tc.plant(t, dir, outside)
			before, _ := os.ReadDir(outside)
			if err := c.CheckSave(ctx, ca, "a.test"); err != nil {
				t.Errorf("CheckSave = %v, want nil: the save replaces a link", err)
			}
			if err := c.SaveCertificate(ctx, CertRecord{Name: "a.test", CA: ca, KeyPEM: ps[1].key, ChainPEM: ps[1].chain}); err != nil {
				t.Fatalf("SaveCertificate over a foreign live link: %v", err)
			}
			got, err := c.LoadCertificate(ctx, ca, "a.test")
			if err != nil || string(got.ChainPEM) != string(ps[1].chain) {
				t.Errorf("LoadCertificate after the save: %v; want the chain saved", err)
			}
			target, err := os.Readlink(filepath.Join(dir, "live"))
			if fi, serr := os.Lstat(filepath.Join(dir, target)); err != nil || !strings.HasPrefix(target, "versions/") || serr != nil || !fi.IsDir() {
				t.Errorf("live -> %q (%v, %v), want a version directory", target, err, serr)
			}
			if after, _ := os.ReadDir(outside); len(after) != len(before) {
				t.Errorf("outside the store: %v, was %v", after, before)
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		d := newTestDir(t)
		c := &Certs{Store: d}
		ctx := t.Context()
		p := testPairs(t, 1, "a.test")[0]
		if err := c.SaveCertificate(ctx, CertRecord{Name: "a.test", CA: ca, KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
			t.Fatal(err)
		}
		live := filepath.Join(d.Root(), "certificates", "ca.test_dir", "a.test", "live")
		if err := os.Remove(live); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(live, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := c.CheckSave(ctx, ca, "a.test"); err == nil || !strings.Contains(err.Error(), live+" is a directory") {
			t.Errorf("CheckSave with a directory as live = %v, want an error naming %s", err, live)
		}
		if err := c.CheckSave(ctx, ca, "b.test"); err != nil {
			t.Errorf("CheckSave of a certificate not stored yet = %v", err)
		}
	})
}

func relink(t *testing.T, path, target string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// TestCheckRefusesWhatCannotHoldFiles: CheckSave and CheckMarkRevoked
// look at the directory the write would go in (versions/, revoked/) and
// refuse, naming it, something other than a directory standing there,
// so that nothing is ordered or revoked at the CA that the store could
// not keep (the save failed after the CA issued, with "file does not
// exist").
func TestCheckRefusesWhatCannotHoldFiles(t *testing.T) {
	const ca = "https://ca.test/dir"
	d := newTestDir(t)
	c := &Certs{Store: d}
	ctx := t.Context()
	p := testPairs(t, 1, "a.test")[0]
	if err := c.SaveCertificate(ctx, CertRecord{Name: "a.test", CA: ca, KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSave(ctx, ca, "a.test"); err != nil {
		t.Fatalf("CheckSave of a whole store = %v", err)
	}
	if err := c.CheckMarkRevoked(ctx, ca, "a.test"); err != nil {
		t.Fatalf("CheckMarkRevoked of a whole store = %v", err)
	}
	dir := filepath.Join(d.Root(), "certificates", "ca.test_dir", "a.test")
	for _, tc := range []struct {
		sub   string
		check func() error
	}{
		{"versions", func() error { return c.CheckSave(ctx, ca, "a.test") }},
		{"revoked", func() error { return c.CheckMarkRevoked(ctx, ca, "a.test") }},
	} {
		path := filepath.Join(dir, tc.sub)
		moved := path + ".moved"
		if _, err := os.Lstat(path); err == nil {
			if err := os.Rename(path, moved); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := tc.check(); err == nil || !strings.Contains(err.Error(), path+" is not a directory") {
			t.Errorf("%s a file: %v, want an error naming %s", tc.sub, err, path)
		}
		os.Remove(path)
		os.Rename(moved, path)
	}
}

// A certificate ListCertificates cannot load is named in its error by the
// key CertificateKey gives for it, so that callers can tell whose it is.
func TestListErrorNamesTheCertificate(t *testing.T) {
	const ca = "https://ca.test/dir"
	d := newTestDir(t)
	c := &Certs{Store: d}
	ctx := t.Context()
	p := testPairs(t, 1, "a.test")[0]
	if err := c.SaveCertificate(ctx, CertRecord{Name: "a.test", CA: ca, KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
		t.Fatal(err)
	}
	relink(t, filepath.Join(d.Root(), "certificates", "ca.test_dir", "a.test", "live"), "live")
	_, err := c.ListCertificates(ctx, ca)
	want, kerr := c.CertificateKey(ca, "a.test")
	var ce *CertificateError
	if kerr != nil || !errors.As(err, &ce) || ce.Key != want {
		t.Errorf("ListCertificates error %v (key %v), want a CertificateError for %q (%v)", err, ce, want, kerr)
	}
}
