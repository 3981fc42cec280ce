package store

import (
	"context"
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// unswitched is a store whose writer dies when it would make a version
// current (the live link of a Linker, the pointer key of another store):
// the version is written whole, the switch never made, as when the
// process is killed between the two.
type unswitched struct {
	Store
}

func (s unswitched) Put(ctx context.Context, key string, value []byte) error {
	if path.Base(key) == pointerKey {
		return errDied
	}
	return s.Store.Put(ctx, key, value)
}

// dirUnswitched is unswitched for a Dir, links and batches included.
type dirUnswitched struct {
	*Dir
}

func (s dirUnswitched) Put(ctx context.Context, key string, value []byte) error {
	if path.Base(key) == pointerKey {
		return errDied
	}
	return s.Dir.Put(ctx, key, value)
}

func (s dirUnswitched) Symlink(ctx context.Context, key, target string) error {
	if path.Base(key) == liveLink {
		return errDied
	}
	return s.Dir.Symlink(ctx, key, target)
}

// versionSummary is what Versions says in short: each version's serial,
// and which one is current.
func versionSummary(t *testing.T, c *Certs, ca, name string) (serials []string, current string) {
	t.Helper()
	vs, err := c.Versions(t.Context(), ca, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Err != nil {
			t.Fatalf("version %d: %v", v.ID, v.Err)
		}
		serials = append(serials, v.Serial)
		if v.Current {
			current = v.Serial
		}
	}
	return serials, current
}

// A save killed after its version was written whole and before it was
// made current, then the same certificate saved again (the next attempt
// resumes the order and the CA hands out the same certificate): the
// version written is made current, not written a second time. The same
// certificate saved once more while current writes nothing; another
// certificate is a new version, as always.
func TestSaveAgainAfterKillBeforeSwitch(t *testing.T) {
	const ca, name = "https://ca.test/dir", "a.test"
	for _, backend := range []string{"dir", "memory"} {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			var (
				st    Store
				dying Store
			)
			if backend == "dir" {
				d := newTestDir(t)
				st, dying = d, dirUnswitched{d}
			} else {
				m := NewMemory()
				st, dying = m, unswitched{m}
			}
			c := &Certs{Store: st}
			ps := testPairs(t, 3, name)
			rec := func(p pair) CertRecord {
				return CertRecord{Name: name, Identifiers: []string{name}, CA: ca, CertURL: "https://ca.test/cert/1", KeyPEM: p.key, ChainPEM: p.chain}
			}
			if err := c.SaveCertificate(ctx, rec(ps[0])); err != nil {
				t.Fatal(err)
			}
			if err := (&Certs{Store: dying}).SaveCertificate(ctx, rec(ps[1])); !errors.Is(err, errDied) {
				t.Fatalf("save killed before the switch: %v", err)
			}
			serials, cur := versionSummary(t, c, ca, name)
			first, second := serials[0], serials[1]
			if len(serials) != 2 || cur != first {
				t.Fatalf("after the kill: versions %q, current %q; want 2 versions, the first current", serials, cur)
			}

			// The next process saves the same certificate.
			c = &Certs{Store: st}
			if err := c.SaveCertificate(ctx, rec(ps[1])); err != nil {
				t.Fatal(err)
			}
			serials, cur = versionSummary(t, c, ca, name)
			if len(serials) != 2 || cur != second {
				t.Fatalf("saved again: versions %q, current %q; want %q with %s current (no second copy)", serials, cur, []string{first, second}, second)
			}
			got, err := c.LoadCertificate(ctx, ca, name)
			if err != nil || string(got.KeyPEM) != string(ps[1].key) || string(got.ChainPEM) != string(ps[1].chain) {
				t.Fatalf("LoadCertificate after saving again: %v", err)
			}

			// Current already: nothing written.
			if err := c.SaveCertificate(ctx, rec(ps[1])); err != nil {
				t.Fatal(err)
			}
			if serials, cur = versionSummary(t, c, ca, name); len(serials) != 2 || cur != second {
				t.Fatalf("the current certificate saved again: versions %q, current %q", serials, cur)
			}

			// Another certificate, or the same one described otherwise
			// (another URL), is a new version.
			if err := c.SaveCertificate(ctx, rec(ps[2])); err != nil {
				t.Fatal(err)
			}
			if serials, cur = versionSummary(t, c, ca, name); len(serials) != 3 || cur != serials[2] {
				t.Fatalf("another certificate: versions %q, current %q; want a third, current", serials, cur)
			}
			other := rec(ps[2])
			other.CertURL = "https://ca.test/cert/2"
			if err := c.SaveCertificate(ctx, other); err != nil {
				t.Fatal(err)
			}
			if serials, _ = versionSummary(t, c, ca, name); len(serials) != 4 {
				t.Fatalf("the same chain at another URL: versions %q, want a fourth", serials)
			}
		})
	}
}

// The version written before the kill holds the same chain with another
// key (a key the caller does not resume with): a new version, with the
// key given, so that the key returned always matches what was saved.
func TestSaveAgainOtherKeyIsNewVersion(t *testing.T) {
	const ca, name = "https://ca.test/dir", "a.test"
	ctx := t.Context()
	d := newTestDir(t)
	c := &Certs{Store: d}
	ps := testPairs(t, 2, name)
	if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: ps[0].key, ChainPEM: ps[0].chain}); err != nil {
		t.Fatal(err)
	}
	if err := (&Certs{Store: dirUnswitched{d}}).SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: ps[1].key, ChainPEM: ps[1].chain}); !errors.Is(err, errDied) {
		t.Fatalf("save killed before the switch: %v", err)
	}
	// The same chain without its key (ordered with the caller's CSR).
	if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, ChainPEM: ps[1].chain}); err != nil {
		t.Fatal(err)
	}
	serials, cur := versionSummary(t, c, ca, name)
	if len(serials) != 3 || cur != serials[2] {
		t.Fatalf("versions %q, current %q; want a third, current", serials, cur)
	}
	got, err := c.LoadCertificate(ctx, ca, name)
	if err != nil || got.KeyPEM != nil {
		t.Fatalf("LoadCertificate: key %q, %v; want none", got.KeyPEM, err)
	}
}

// topUnwritten is a store whose writer dies when it would write a
// top-level "<name>.pem" of LayoutShared, after keeping it as a version.
type topUnwritten struct {
	Store
}

func (s topUnwritten) Put(ctx context.Context, key string, value []byte) error {
	if !strings.Contains(key, "/") && strings.HasSuffix(key, ".pem") {
		return errDied
	}
	return s.Store.Put(ctx, key, value)
}

// LayoutShared keeps each certificate as a version before it writes
// "<name>.pem": a save killed between the two, then the same certificate
// saved again, keeps one version of it; the current one saved again
// writes nothing.
func TestSharedSaveAgainAfterKill(t *testing.T) {
	const name = "a.test"
	ctx := t.Context()
	m := NewMemory()
	c := &Certs{Store: m, Layout: LayoutShared}
	ps := testPairs(t, 2, name)
	if err := c.SaveCertificate(ctx, CertRecord{Name: name, KeyPEM: ps[0].key, ChainPEM: ps[0].chain}); err != nil {
		t.Fatal(err)
	}
	if err := (&Certs{Store: topUnwritten{m}, Layout: LayoutShared}).SaveCertificate(ctx, CertRecord{Name: name, KeyPEM: ps[1].key, ChainPEM: ps[1].chain}); !errors.Is(err, errDied) {
		t.Fatalf("save killed before %s.pem: %v", name, err)
	}
	serials, cur := versionSummary(t, c, "", name)
	if len(serials) != 2 || cur != serials[0] {
		t.Fatalf("after the kill: versions %q, current %q; want 2, the first current", serials, cur)
	}
	second := serials[1]
	for range 2 {
		if err := c.SaveCertificate(ctx, CertRecord{Name: name, KeyPEM: ps[1].key, ChainPEM: ps[1].chain}); err != nil {
			t.Fatal(err)
		}
		if serials, cur = versionSummary(t, c, "", name); len(serials) != 2 || cur != second {
			t.Fatalf("saved again: versions %q, current %q; want 2, the second current", serials, cur)
		}
	}
	got, err := c.LoadCertificate(ctx, "", name)
	if err != nil || string(got.ChainPEM) != string(ps[1].chain) {
		t.Fatalf("LoadCertificate: %v", err)
	}
}

// A first save killed before its version was made current: readers read
// that version (no pointer: see ErrBrokenPointer); saved again, it becomes
// current; none is written twice.
func TestFirstSaveAgainAfterKillBeforeSwitch(t *testing.T) {
	const ca, name = "https://ca.test/dir", "a.test"
	for _, backend := range []string{"dir", "memory"} {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			var st, dying Store
			if backend == "dir" {
				d := newTestDir(t)
				st, dying = d, dirUnswitched{d}
			} else {
				m := NewMemory()
				st, dying = m, unswitched{m}
			}
			p := testPairs(t, 1, name)[0]
			rec := CertRecord{Name: name, CA: ca, KeyPEM: p.key, ChainPEM: p.chain}
			if err := (&Certs{Store: dying}).SaveCertificate(ctx, rec); !errors.Is(err, errDied) {
				t.Fatalf("first save killed before the switch: %v", err)
			}
			c := &Certs{Store: st}
			// No pointer, and a whole version: readers read it (as
			// they do when a live link is missing), saying so.
			if got, err := c.LoadCertificate(ctx, ca, name); err != nil || got.Version != 1 || !errors.Is(got.PointerErr, ErrBrokenPointer) {
				t.Fatalf("a certificate never made current: Version %d, PointerErr %v, %v; want version 1 read, the pointer said missing", got.Version, got.PointerErr, err)
			}
			if err := c.SaveCertificate(ctx, rec); err != nil {
				t.Fatal(err)
			}
			serials, cur := versionSummary(t, c, ca, name)
			if len(serials) != 1 || cur != serials[0] {
				t.Fatalf("saved again: versions %q, current %q; want one, current", serials, cur)
			}
			got, err := c.LoadCertificate(ctx, ca, name)
			if err != nil || string(got.ChainPEM) != string(p.chain) {
				t.Fatalf("LoadCertificate: %v", err)
			}
			if backend == "dir" {
				if _, err := topLevel(filepath.Join(st.(*Dir).Root(), "certificates", "ca.test_dir", name)); err != nil {
					t.Errorf("top-level files: %v", err)
				}
			}
		})
	}
}

// A certificate of the unversioned layout (files at the top, no version
// current) beside a version its import left: the top-level one is still
// imported before anything is reused, so that it is never lost.
func TestUnversionedNotLostToReuse(t *testing.T) {
	const ca, name = "https://ca.test/dir", "a.test"
	ctx := t.Context()
	m := NewMemory()
	ps := testPairs(t, 2, name)
	dir := "certificates/ca.test_dir/" + name
	// Version 1 holds ps[1], never made current; the top holds ps[0].
	for k, v := range map[string][]byte{
		dir + "/versions/1/key.pem": ps[1].key, dir + "/versions/1/cert.pem": ps[1].chain,
		dir + "/key.pem": ps[0].key, dir + "/cert.pem": ps[0].chain,
	} {
		if err := m.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	c := &Certs{Store: m}
	if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: ps[1].key, ChainPEM: ps[1].chain}); err != nil {
		t.Fatal(err)
	}
	vs, err := c.Versions(ctx, ca, name)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, v := range vs {
		keys = append(keys, v.Serial)
	}
	if len(vs) != 3 || !vs[2].Current {
		t.Fatalf("versions %q; want the one left, the unversioned one imported, the new one current", keys)
	}
	if got, err := c.LoadCertificate(ctx, ca, name); err != nil || string(got.ChainPEM) != string(ps[1].chain) {
		t.Fatalf("LoadCertificate: %v", err)
	}
}
