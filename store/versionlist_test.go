package store

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// hideLister is a store whose Dir is seen through the Store interface
// alone: Certs lists its versions with List, as in a store that is no
// versionLister.
type hideLister struct{ Store }

// TestVersionListingAgrees: a Dir's listing of a certificate's versions
// (one read of versions/ and a look at each cert.pem: versionLister),
// through openat2 and through os.Root, says what List's walk of every
// version's files says: the same whole versions, a directory under every
// number that has files, and which names are links, for whatever stands
// there: a whole version, one without its chain (a writer died), an
// empty directory, a link in place of a version, a file, a cert.pem that
// is a link to a regular file, one that dangles, one that is a
// directory, names that are no version numbers.
func TestVersionListingAgrees(t *testing.T) {
	d := newTestDir(t)
	ctx := t.Context()
	const dir = "certificates/ca.test_dir/a.test"
	vdir := filepath.Join(d.Root(), filepath.FromSlash(dir), "versions")
	put := func(p, data string) {
		t.Helper()
		p = filepath.Join(vdir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	link := func(p, target string) {
		t.Helper()
		p = filepath.Join(vdir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	put("1/cert.pem", "chain 1")
	put("1/key.pem", "key 1")
	put("2/key.pem", "half written") // no chain
	if err := os.MkdirAll(filepath.Join(vdir, "3"), 0o700); err != nil {
		t.Fatal(err)
	}
	link("4", "1")
	put("5", "a file")
	put("6/other.pem", "other")
	link("6/cert.pem", "other.pem") // a link to a regular file: whole
	link("7/cert.pem", "missing")   // dangling: no chain
	if err := os.MkdirAll(filepath.Join(vdir, "8", "cert.pem"), 0o700); err != nil {
		t.Fatal(err)
	}
	put("9/.tmp-cert.pem.0123456789abcdef", "a temporary file")
	put("10/cert.pem", "chain ten")
	put("010/cert.pem", "not a version number")
	put("x/cert.pem", "not a version number")
	put(".tmp-x", "a temporary file")

	want := map[int]versionSlot{
		1: {dir: true, chain: true, size: int64(len("chain 1"))},
		2: {dir: true}, 3: {dir: true}, 4: {link: true},
		6: {dir: true, chain: true, size: int64(len("other"))},
		7: {dir: true}, 8: {dir: true}, 9: {dir: true},
		10: {dir: true, chain: true, size: int64(len("chain ten"))},
	}
	got, err := d.listVersions(ctx, dir)
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("listVersions = %v, %v; want %v", got, err, want)
	}
	r, err := d.openRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.sys = nil // os.Root, as where there is no openat2
	if got, err := r.versionSlots(filepath.FromSlash(dir + "/versions")); err != nil || !maps.Equal(got, want) {
		t.Errorf("versionSlots through os.Root = %v, %v; want %v", got, err, want)
	}

	byLister, err := (&Certs{Store: d}).versionListing(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	byList, err := (&Certs{Store: hideLister{d}}).versionListing(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(byLister.ids, byList.ids) || !slices.Equal(byLister.ids, []int{1, 6, 10}) {
		t.Errorf("whole versions: %v from the listing, %v from List; want [1 6 10]", byLister.ids, byList.ids)
	}
	for n := range byList.used {
		if !byLister.used[n] {
			t.Errorf("version %d has files (List) but the listing finds no directory there", n)
		}
	}
	for n, s := range byLister.slots {
		if link, known := byLister.isLink(n); !known || link != s.link {
			t.Errorf("isLink(%d) = %v, %v", n, link, known)
		}
	}
	if _, known := byList.isLink(4); known {
		t.Error("List's listing claims to know which versions are links")
	}
	if got, err := d.listVersions(ctx, "certificates/ca.test_dir/none.test"); err != nil || len(got) != 0 {
		t.Errorf("listVersions of a certificate without versions = %v, %v", got, err)
	}
}

// TestSaveOverLinkAtNextVersion: a link standing where the next version
// goes (planted, corrupt: the store makes versions as directories),
// whether to a version of the certificate or outside the store, is
// removed, not written through, and the version is written as a
// directory; what it led to is untouched. With a Dir, the save learns of
// the link from its listing of the versions, not from a readlink.
func TestSaveOverLinkAtNextVersion(t *testing.T) {
	const ca, name = "https://ca.test/dir", "a.test"
	for _, tc := range []struct {
		name   string
		target func(outside string) string
	}{
		{"to a version", func(string) string { return "1" }},
		{"outside", func(outside string) string { return outside }},
	} {
		for _, backend := range []string{"dir", "dir through List"} {
			t.Run(tc.name+"/"+backend, func(t *testing.T) {
				d := newTestDir(t)
				var s Store = d
				if backend != "dir" {
					s = hideLinkerOnly{d}
				}
				c := &Certs{Store: s}
				ctx := t.Context()
				ps := testPairs(t, 2, name)
				if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: ps[0].key, ChainPEM: ps[0].chain}); err != nil {
					t.Fatal(err)
				}
				vdir := filepath.Join(d.Root(), "certificates", "ca.test_dir", name, "versions")
				outside := t.TempDir()
				if err := os.WriteFile(filepath.Join(outside, "cert.pem"), []byte("outside"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(tc.target(outside), filepath.Join(vdir, "2")); err != nil {
					t.Fatal(err)
				}
				if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: ps[1].key, ChainPEM: ps[1].chain}); err != nil {
					t.Fatal(err)
				}
				if fi, err := os.Lstat(filepath.Join(vdir, "2")); err != nil || !fi.IsDir() {
					t.Errorf("versions/2 after the save: %v, %v; want a directory", fi, err)
				}
				if b, err := os.ReadFile(filepath.Join(vdir, "1", "cert.pem")); err != nil || !bytes.Equal(b, ps[0].chain) {
					t.Errorf("version 1's chain after the save: %v; want the first chain", err)
				}
				if b, err := os.ReadFile(filepath.Join(outside, "cert.pem")); err != nil || string(b) != "outside" {
					t.Errorf("outside the store: %q, %v", b, err)
				}
				got, err := c.LoadCertificate(ctx, ca, name)
				if err != nil || !bytes.Equal(got.ChainPEM, ps[1].chain) || got.Version != 2 {
					t.Errorf("LoadCertificate: version %d, %v; want the second chain, version 2", got.Version, err)
				}
			})
		}
	}
}

// hideLinkerOnly is a Dir seen as a Store and a Linker (and a
// BatchPutter) but no versionLister: a save reads the links itself.
type hideLinkerOnly struct{ *Dir }

func (hideLinkerOnly) listVersions() {} // shadows Dir's: not a versionLister

// TestSaveAfterCurrentVersionRemoved: the current version's directory
// removed by hand (live dangles): the save writes its version under the
// next number the versions left give, which the listing finds free (no
// link there, nothing to clear), and makes it current; the older
// version stays.
func TestSaveAfterCurrentVersionRemoved(t *testing.T) {
	const ca, name = "https://ca.test/dir", "a.test"
	for _, backend := range []string{"dir", "dir through List"} {
		t.Run(backend, func(t *testing.T) {
			d := newTestDir(t)
			var s Store = d
			if backend != "dir" {
				s = hideLinkerOnly{d}
			}
			c := &Certs{Store: s}
			ctx := t.Context()
			ps := testPairs(t, 3, name)
			for _, p := range ps[:2] {
				if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
					t.Fatal(err)
				}
			}
			vdir := filepath.Join(d.Root(), "certificates", "ca.test_dir", name, "versions")
			if err := os.RemoveAll(filepath.Join(vdir, "2")); err != nil {
				t.Fatal(err)
			}
			if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: ps[2].key, ChainPEM: ps[2].chain}); err != nil {
				t.Fatal(err)
			}
			got, err := c.LoadCertificate(ctx, ca, name)
			if err != nil || !bytes.Equal(got.ChainPEM, ps[2].chain) || got.Version != 2 || got.PointerErr != nil {
				t.Errorf("LoadCertificate: version %d, pointer %v, %v; want the third chain, version 2", got.Version, got.PointerErr, err)
			}
			if b, err := os.ReadFile(filepath.Join(vdir, "1", "cert.pem")); err != nil || !bytes.Equal(b, ps[0].chain) {
				t.Errorf("version 1's chain after the save: %v; want the first chain", err)
			}
		})
	}
}
