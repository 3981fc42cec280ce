package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokenLiveReadsNewestWhole: a certificate whose pointer to its
// current version is missing, dangling or leads to a version without its
// chain is read, by every reader, from the newest version that reads
// whole, with that version's number (the one StoredVersion gives) and a
// PointerErr wrapping ErrBrokenPointer; the next save makes the pointer
// and the top-level links right again.
func TestBrokenLiveReadsNewestWhole(t *testing.T) {
	const ca, name = "https://ca.test/dir", "a.test"
	type store struct {
		s    Store
		dir  string // the certificate's directory, in a Dir
		link bool
	}
	rm := func(t *testing.T, st store, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if err := st.s.Delete(t.Context(), "certificates/ca.test_dir/"+name+"/"+k); err != nil {
				t.Fatal(err)
			}
		}
	}
	rmDir := func(t *testing.T, st store, k string) {
		t.Helper()
		if err := (&Certs{Store: st.s}).deleteTree(t.Context(), "certificates/ca.test_dir/"+name+"/"+k); err != nil {
			t.Fatal(err)
		}
	}
	pointer := func(st store) string {
		if st.link {
			return liveLink
		}
		return pointerKey
	}
	for _, tc := range []struct {
		name   string
		links  bool // only in a store with links
		break_ func(t *testing.T, st store)
		want   int // the version read; 3 are saved
	}{
		{"missing", false, func(t *testing.T, st store) { rm(t, st, pointer(st)) }, 3},
		{"missing with the top-level links", true, func(t *testing.T, st store) {
			// A backup tool that drops symbolic links.
			rm(t, st, liveLink, certFile, keyFile, combinedFile, metaFile)
		}, 3},
		{"dangling", false, func(t *testing.T, st store) { rmDir(t, st, "versions/3") }, 2},
		{"version without its chain", false, func(t *testing.T, st store) { rm(t, st, "versions/3/cert.pem") }, 2},
		{"missing, newest key not its leaf's", false, func(t *testing.T, st store) {
			rm(t, st, pointer(st))
			k, err := st.s.Get(t.Context(), "certificates/ca.test_dir/"+name+"/versions/1/key.pem")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.s.Put(t.Context(), "certificates/ca.test_dir/"+name+"/versions/3/key.pem", k); err != nil {
				t.Fatal(err)
			}
		}, 2},
	} {
		for _, backend := range []string{"dir", "memory"} {
			if tc.links && backend != "dir" {
				continue
			}
			t.Run(tc.name+"/"+backend, func(t *testing.T) {
				ctx := t.Context()
				var st store
				if backend == "dir" {
					d := newTestDir(t)
					st = store{d, filepath.Join(d.Root(), "certificates", "ca.test_dir", name), true}
				} else {
					st = store{s: NewMemory()}
				}
				c := &Certs{Store: st.s}
				ps := testPairs(t, 4, name)
				for _, p := range ps[:3] {
					if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
						t.Fatal(err)
					}
				}
				tc.break_(t, st)
				want := ps[tc.want-1]

				check := func(how string, got CertRecord) {
					t.Helper()
					if string(got.ChainPEM) != string(want.chain) || string(got.KeyPEM) != string(want.key) || got.Version != tc.want {
						t.Errorf("%s: version %d read, want %d, its key and chain", how, got.Version, tc.want)
					}
					if !errors.Is(got.PointerErr, ErrBrokenPointer) {
						t.Errorf("%s: PointerErr = %v, want ErrBrokenPointer", how, got.PointerErr)
					}
				}
				got, err := c.LoadCertificate(ctx, ca, name)
				if err != nil {
					t.Fatalf("LoadCertificate: %v", err)
				}
				check("LoadCertificate", got)
				list, err := c.ListCertificates(ctx, ca)
				if err != nil || len(list) != 1 {
					t.Fatalf("ListCertificates = %d records, %v", len(list), err)
				}
				check("ListCertificates", list[0])
				// StoredVersion reads the pointer alone: never the
				// version read while the pointer is broken, so that a
				// holder of the record reads it again.
				if n, err := c.StoredVersion(ctx, ca, name); err != nil || n == tc.want {
					t.Errorf("StoredVersion = %d, %v; want other than %d, the version read", n, err, tc.want)
				}
				vs, err := c.Versions(ctx, ca, name)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range vs {
					if v.Current != (v.ID == tc.want) {
						t.Errorf("Versions: %d Current %v; want only %d current", v.ID, v.Current, tc.want)
					}
				}
				if err := c.RebuildIndex(ctx); err != nil {
					t.Fatal(err)
				}
				x, err := c.Index(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if r := x.Lookup(ca, name); r == nil || r.Version != tc.want {
					t.Errorf("index rebuilt: %+v; want the certificate, version %d", r, tc.want)
				}
				if err := c.Reindex(ctx, ca, name); err != nil {
					t.Fatal(err)
				}
				if x, err := c.Index(ctx); err != nil || x.Lookup(ca, name) == nil {
					t.Errorf("Reindex dropped the certificate (%v)", err)
				}

				// The next save makes the pointer right.
				if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: ps[3].key, ChainPEM: ps[3].chain}); err != nil {
					t.Fatal(err)
				}
				got, err = c.LoadCertificate(ctx, ca, name)
				if err != nil || string(got.ChainPEM) != string(ps[3].chain) || got.PointerErr != nil {
					t.Fatalf("after the save: PointerErr %v, %v; want the chain saved, no broken pointer", got.PointerErr, err)
				}
				if n, err := c.StoredVersion(ctx, ca, name); err != nil || n != got.Version {
					t.Errorf("after the save: StoredVersion = %d, %v; want %d", n, err, got.Version)
				}
				if st.link {
					top, err := topLevel(st.dir)
					if err != nil {
						t.Fatalf("after the save, the top-level files: %v", err)
					}
					if b, err := os.ReadFile(filepath.Join(st.dir, "cert.pem")); err != nil || string(b) != string(ps[3].chain) {
						t.Errorf("after the save, cert.pem at the top: %v; want the chain saved (%v)", err, top)
					}
				}
			})
		}
	}
}

// TestBrokenLiveNoWholeVersion: a pointer that is broken when no version
// reads whole leaves the certificate missing, as before.
func TestBrokenLiveNoWholeVersion(t *testing.T) {
	const ca, name = "https://ca.test/dir", "a.test"
	ctx := t.Context()
	d := newTestDir(t)
	c := &Certs{Store: d}
	p := testPairs(t, 1, name)[0]
	if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "certificates/ca.test_dir/"+name+"/versions/1/cert.pem"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadCertificate(ctx, ca, name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadCertificate = %v, want fs.ErrNotExist", err)
	}
	if n, err := c.StoredVersion(ctx, ca, name); err != nil || n != 1 {
		t.Errorf("StoredVersion = %d, %v; want 1, the pointer as it is", n, err)
	}
}

// TestLiveNotALink: a live that is not a link but a directory someone put
// there is not taken for a missing one: readers find no certificate
// through it, as before, and CheckSave refuses to order over it.
func TestLiveNotALink(t *testing.T) {
	const ca, name = "https://ca.test/dir", "a.test"
	ctx := t.Context()
	d := newTestDir(t)
	c := &Certs{Store: d}
	p := testPairs(t, 1, name)[0]
	if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(d.Root(), "certificates", "ca.test_dir", name, "live")
	if err := os.Remove(live); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(live, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadCertificate(ctx, ca, name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadCertificate = %v, want fs.ErrNotExist", err)
	}
	if err := c.CheckSave(ctx, ca, name); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("CheckSave = %v, want the directory named", err)
	}
}
