package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type pair struct{ key, chain []byte }

func testPairs(t *testing.T, n int, names ...string) []pair {
	out := make([]pair, n)
	for i := range out {
		out[i].key, out[i].chain = testCert(t, names...)
	}
	return out
}

// TestRenewalNeverStraddles reads a certificate in a loop, the three ways
// the package documentation gives, while another goroutine renews it many
// times with a new key each time: no reader may get the key of one
// version with the chain of another.
//
// The memory variants renew 500 times, the Dir 150 (each save syncs).
// The "keep1" variants keep one previous version, so that a version is
// pruned two saves after it stopped being current: a reader that reads a
// version's files while it is pruned is met far more often. The
// "yielding" variants give up the processor around every read and write,
// so that readers and the writer interleave at every step even with
// GOMAXPROCS=1.
func TestRenewalNeverStraddles(t *testing.T) {
	for _, tt := range []struct {
		name     string
		backend  string
		keep     int
		yielding bool
	}{
		{"dir", "dir", 0, false},
		{"memory", "memory", 0, false},
		{"memory/keep1", "memory", 1, false},
		{"memory/keep1/yielding", "memory", 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.backend == "dir" && testing.Short() {
				t.Skip("integration tier (150 fsynced renewals on the disk, 8 s to a minute): skipped under -short; the memory cases run")
			}
			var s Store = NewMemory()
			if tt.backend == "dir" {
				s = newTestDir(t)
			}
			if tt.yielding {
				s = yielding{s}
			}
			testNoStraddle(t, &Certs{Store: s, KeepVersions: tt.keep})
		})
	}
}

// yielding is a Store that yields the processor before and after every
// Get, Put and Delete.
type yielding struct{ Store }

func (s yielding) Get(ctx context.Context, key string) ([]byte, error) {
	runtime.Gosched()
	defer runtime.Gosched()
	return s.Store.Get(ctx, key)
}

func (s yielding) Put(ctx context.Context, key string, value []byte) error {
	runtime.Gosched()
	defer runtime.Gosched()
	return s.Store.Put(ctx, key, value)
}

func (s yielding) Delete(ctx context.Context, key string) error {
	runtime.Gosched()
	defer runtime.Gosched()
	return s.Store.Delete(ctx, key)
}

func testNoStraddle(t *testing.T, c *Certs) {
	ctx := t.Context()
	const ca, name = "https://ca.example.test/a/directory", "www.example.test"
	pairs := testPairs(t, 6, name)
	save := func(p pair) error {
		return c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: p.key, ChainPEM: p.chain})
	}
	if err := save(pairs[0]); err != nil {
		t.Fatal(err)
	}
	renewals := 500
	if _, ok := c.Store.(*Dir); ok {
		renewals = 150
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	reader := func(what string, read func() error) {
		defer wg.Done()
		n := 0
		for {
			select {
			case <-done:
				if n == 0 {
					t.Errorf("%s: no read before the renewals ended", what)
				}
				return
			default:
			}
			if err := read(); err != nil {
				t.Errorf("%s, read %d: %v", what, n, err)
				return
			}
			n++
			reads.Add(1)
		}
	}
	wg.Add(1)
	go reader("LoadCertificate", func() error {
		res, err := c.LoadCertificate(ctx, ca, name)
		if err != nil {
			return err
		}
		_, err = tls.X509KeyPair(res.ChainPEM, res.KeyPEM)
		return err
	})
	if d, ok := c.Store.(*Dir); ok {
		p, err := c.Paths(ca, name)
		if err != nil {
			t.Fatal(err)
		}
		var pruned atomic.Int64
		wg.Add(2)
		// An outside program: resolve live once, read both files there.
		go reader("live directory", func() error {
			for {
				target, err := os.Readlink(p.Live)
				if err != nil {
					return err
				}
				vdir := filepath.Join(p.Dir, target)
				key, kerr := os.ReadFile(filepath.Join(vdir, "key.pem"))
				cert, cerr := os.ReadFile(filepath.Join(vdir, "cert.pem"))
				if errors.Is(kerr, fs.ErrNotExist) || errors.Is(cerr, fs.ErrNotExist) {
					// Pruned after KeepVersions renewals since the
					// link was read: look again, as documented.
					pruned.Add(1)
					continue
				}
				if err := errors.Join(kerr, cerr); err != nil {
					return err
				}
				_, err = tls.X509KeyPair(cert, key)
				return err
			}
		})
		// A single-file reader.
		go reader("combined.pem", func() error {
			data, err := os.ReadFile(p.Combined)
			if err != nil {
				return err
			}
			_, err = tls.X509KeyPair(data, data)
			return err
		})
		defer func() { t.Logf("outside reader met a pruned version %d times", pruned.Load()) }()
		_ = d
	}
	for i := 1; i <= renewals; i++ {
		if err := save(pairs[i%len(pairs)]); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	t.Logf("%d reads during %d renewals", reads.Load(), renewals)
	vs, err := c.Versions(ctx, ca, name)
	if err != nil || len(vs) != c.keep()+1 || !vs[len(vs)-1].Current || vs[len(vs)-1].ID != renewals+1 {
		t.Errorf("Versions after %d renewals = %+v, %v", renewals, vs, err)
	}
}

// TestVersionsRestore keeps a bounded number of versions, restores one and
// never prunes the one in use.
func TestVersionsRestore(t *testing.T) {
	for _, layout := range []Layout{LayoutStandard, LayoutShared} {
		for _, backend := range []string{"memory", "dir"} {
			t.Run(layout.String()+"/"+backend, func(t *testing.T) {
				var s Store = NewMemory()
				if backend == "dir" {
					s = newTestDir(t)
				}
				testVersionsRestore(t, &Certs{Store: s, Layout: layout, KeepVersions: 2})
			})
		}
	}
}

func testVersionsRestore(t *testing.T, c *Certs) {
	ctx := t.Context()
	const ca, name = "https://ca.test/dir", "a.test"
	pairs := testPairs(t, 5, name)
	for _, p := range pairs {
		if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func() (out []int, cur int) {
		t.Helper()
		vs, err := c.Versions(ctx, ca, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			out = append(out, v.ID)
			if v.Current {
				cur = v.ID
			}
			if v.Err != nil || v.Serial == "" || !v.HasKey {
				t.Errorf("version %+v", v)
			}
		}
		return out, cur
	}
	if got, cur := ids(); !slices.Equal(got, []int{3, 4, 5}) || cur != 5 {
		t.Fatalf("versions %v, current %d; want [3 4 5], 5", got, cur)
	}
	if err := c.Restore(ctx, ca, name, 3); err != nil {
		t.Fatal(err)
	}
	res, err := c.LoadCertificate(ctx, ca, name)
	if err != nil || !bytes.Equal(res.ChainPEM, pairs[2].chain) {
		t.Fatalf("after Restore(3): %v", err)
	}
	if _, cur := ids(); cur != 3 {
		t.Errorf("current %d after Restore(3)", cur)
	}
	if err := c.Restore(ctx, ca, name, 1); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Restore of a pruned version: %v", err)
	}
	// A save prunes the oldest but keeps the newest two besides itself.
	if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: pairs[0].key, ChainPEM: pairs[0].chain}); err != nil {
		t.Fatal(err)
	}
	if got, cur := ids(); !slices.Equal(got, []int{4, 5, 6}) || cur != 6 {
		t.Errorf("versions %v, current %d; want [4 5 6], 6", got, cur)
	}
	// Keeping none still keeps the current one.
	c.KeepVersions = -1
	if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: pairs[1].key, ChainPEM: pairs[1].chain}); err != nil {
		t.Fatal(err)
	}
	if got, cur := ids(); !slices.Equal(got, []int{7}) || cur != 7 {
		t.Errorf("versions %v, current %d; want [7], 7", got, cur)
	}
	if res, err := c.LoadCertificate(ctx, ca, name); err != nil || !bytes.Equal(res.ChainPEM, pairs[1].chain) {
		t.Errorf("LoadCertificate after pruning: %v", err)
	}
	if d, ok := c.Store.(*Dir); ok && c.Layout == LayoutStandard {
		// Pruned version directories are gone, not left empty.
		ents, err := os.ReadDir(filepath.Join(d.Root(), "certificates", "ca.test_dir", name, "versions"))
		if err != nil || len(ents) != 1 || ents[0].Name() != "7" {
			t.Errorf("versions directory holds %v, %v", ents, err)
		}
	}
}

// TestFirstSaveOverUnversioned converts a certificate saved by an older
// certkeeper (plain key.pem, cert.pem, meta.json) while readers read it
// the way they always did: the files are never missing, LoadCertificate
// never gets a mismatched pair, and the old certificate becomes a
// version.
func TestFirstSaveOverUnversioned(t *testing.T) {
	d := newTestDir(t)
	c := &Certs{Store: d}
	ctx := t.Context()
	const ca = "https://ca.test/dir"
	for i := range 5 {
		name := "n" + string(rune('a'+i)) + ".test"
		old, renewed := testPairs(t, 1, name)[0], testPairs(t, 1, name)[0]
		dir := filepath.Join(d.Root(), "certificates", "ca.test_dir", name)
		os.MkdirAll(dir, 0o700)
		os.WriteFile(filepath.Join(dir, "key.pem"), old.key, 0o600)
		os.WriteFile(filepath.Join(dir, "cert.pem"), old.chain, 0o600)
		os.WriteFile(filepath.Join(dir, "meta.json"), []byte(`{"name":"`+name+`","ca":"`+ca+`"}`), 0o600)
		if res, err := c.LoadCertificate(ctx, ca, name); err != nil || !bytes.Equal(res.KeyPEM, old.key) || res.CA != ca {
			t.Fatalf("loading the unversioned certificate: %v", err)
		}
		done := make(chan struct{})
		errc := make(chan error, 1)
		go func() {
			defer close(errc)
			for {
				select {
				case <-done:
					return
				default:
				}
				// The top-level files are never missing. (Read one after
				// the other, they can straddle the switch, as the
				// package documentation says, so they are not
				// matched here: LoadCertificate's are.)
				key, kerr := os.ReadFile(filepath.Join(dir, "key.pem"))
				cert, cerr := os.ReadFile(filepath.Join(dir, "cert.pem"))
				if err := errors.Join(kerr, cerr); err != nil {
					errc <- err
					return
				}
				if !bytes.Equal(key, old.key) && !bytes.Equal(key, renewed.key) ||
					!bytes.Equal(cert, old.chain) && !bytes.Equal(cert, renewed.chain) {
					errc <- errors.New("top-level files hold neither version")
					return
				}
				if _, err := c.LoadCertificate(ctx, ca, name); err != nil {
					errc <- err
					return
				}
			}
		}()
		err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: renewed.key, ChainPEM: renewed.chain})
		close(done)
		if rerr := <-errc; rerr != nil {
			t.Errorf("%s: reader during the first save: %v", name, rerr)
		}
		if err != nil {
			t.Fatal(err)
		}
		vs, err := c.Versions(ctx, ca, name)
		if err != nil || len(vs) != 2 || vs[0].ID != 1 || vs[1].ID != 2 || !vs[1].Current {
			t.Fatalf("Versions = %+v, %v", vs, err)
		}
		if fi, err := os.Lstat(filepath.Join(dir, "cert.pem")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("cert.pem is not a link after the save: %v", err)
		}
		if err := c.Restore(ctx, ca, name, 1); err != nil {
			t.Fatal(err)
		}
		if key, _ := os.ReadFile(filepath.Join(dir, "key.pem")); !bytes.Equal(key, old.key) {
			t.Errorf("key.pem after restoring the unversioned certificate")
		}
	}
}

// TestDirLinkLayout checks the files an outside program sees in a Dir.
func TestDirLinkLayout(t *testing.T) {
	d := newTestDir(t)
	c := &Certs{Store: d}
	ctx := t.Context()
	const ca = "https://ca.test/dir"
	p := testPairs(t, 1, "a.test")[0]
	if err := c.SaveCertificate(ctx, CertRecord{Name: "a.test", CA: ca, KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(d.Root(), "certificates", "ca.test_dir", "a.test")
	for file, target := range map[string]string{
		"live": "versions/1", "cert.pem": "live/cert.pem", "key.pem": "live/key.pem",
		"combined.pem": "live/combined.pem", "meta.json": "live/meta.json",
	} {
		if got, err := os.Readlink(filepath.Join(dir, file)); err != nil || got != target {
			t.Errorf("%s → %q, %v; want %q", file, got, err, target)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "versions", "1", "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key.pem: %v %v", fi, err)
	}
	ks, err := d.List(ctx, "certificates/ca.test_dir/")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cert.pem", "combined.pem", "key.pem", "meta.json",
		"versions/1/cert.pem", "versions/1/combined.pem", "versions/1/key.pem", "versions/1/meta.json"}
	for i := range want {
		want[i] = "certificates/ca.test_dir/a.test/" + want[i]
	}
	if !slices.Equal(ks, want) {
		t.Errorf("List = %q\nwant %q", ks, want)
	}
	if err := c.DeleteCertificate(ctx, ca, "a.test"); err != nil {
		t.Fatal(err)
	}
	if ks, _ := d.List(ctx, "certificates/ca.test_dir/"); len(ks) != 0 {
		t.Errorf("left after DeleteCertificate: %q", ks)
	}
	if _, err := c.LoadCertificate(ctx, ca, "a.test"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadCertificate after DeleteCertificate: %v", err)
	}
}

// TestSharedLayoutOwnRecords keeps certkeeper's records out of the top of
// a shared directory.
func TestSharedLayoutOwnRecords(t *testing.T) {
	d := newTestDir(t)
	c := &Certs{Store: d, Layout: LayoutShared}
	ctx := t.Context()
	const ca = "https://ca.test/dir"
	for _, p := range testPairs(t, 3, "a.test") {
		if err := c.SaveCertificate(ctx, CertRecord{Name: "a.test", KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SaveState(ctx, ca, "a.test", []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.MarkRevoked(ctx, ca, "a.test", "01", time.Now(), 1); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	var top []string
	for _, e := range ents {
		if e.Name()[0] != '.' {
			top = append(top, e.Name())
		}
	}
	if !slices.Equal(top, []string{"a.test.pem", "certkeeper"}) {
		t.Errorf("top of the shared directory: %q", top)
	}
	ks, _ := d.List(ctx, "certkeeper/")
	if !slices.Equal(ks, []string{"certkeeper/manager/a.test.json", "certkeeper/revoked/a.test/1.json",
		"certkeeper/versions/a.test/1.pem", "certkeeper/versions/a.test/2.pem", "certkeeper/versions/a.test/3.pem"}) {
		t.Errorf("certkeeper/ holds %q", ks)
	}
	// Another program writes <name>.pem: the next save keeps it as a
	// version.
	other := testPairs(t, 1, "a.test")[0]
	foreign := combine(other.key, other.chain)
	os.WriteFile(filepath.Join(d.Root(), "a.test.pem"), foreign, 0o600)
	p := testPairs(t, 1, "a.test")[0]
	if err := c.SaveCertificate(ctx, CertRecord{Name: "a.test", KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
		t.Fatal(err)
	}
	if v, err := d.Get(ctx, "certkeeper/versions/a.test/4.pem"); err != nil || !bytes.Equal(v, foreign) {
		t.Errorf("the other program's file is not version 4: %v", err)
	}
}

func TestMarkRevoked(t *testing.T) {
	for _, layout := range []Layout{LayoutStandard, LayoutShared} {
		t.Run(layout.String(), func(t *testing.T) {
			c := &Certs{Store: NewMemory(), Layout: layout}
			ctx := t.Context()
			const ca = "https://ca.test/dir"
			p := testPairs(t, 1, "a.test")[0]
			if err := c.SaveCertificate(ctx, CertRecord{Name: "a.test", CA: ca, KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
				t.Fatal(err)
			}
			res, err := c.LoadCertificate(ctx, ca, "a.test")
			if err != nil || res.Revoked != nil {
				t.Fatalf("before: %+v, %v", res.Revoked, err)
			}
			serial := res.Certificates[0].SerialNumber
			at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			// Colons and upper case, as people copy serials.
			colons := ""
			for i, b := range serial.Bytes() {
				if i > 0 {
					colons += ":"
				}
				colons += string("0123456789ABCDEF"[b>>4]) + string("0123456789ABCDEF"[b&15])
			}
			if err := c.MarkRevoked(ctx, ca, "a.test", colons, at, 4); err != nil {
				t.Fatal(err)
			}
			want := &Revocation{Serial: serial.Text(16), At: at, Reason: 4}
			list, err := c.ListCertificates(ctx, ca)
			if err != nil || len(list) != 1 || list[0].Revoked == nil || *list[0].Revoked != *want {
				t.Errorf("ListCertificates: %+v, %v; want Revoked %+v", list, err, want)
			}
			vs, err := c.Versions(ctx, ca, "a.test")
			if err != nil || len(vs) != 1 || vs[0].Revoked == nil {
				t.Errorf("Versions: %+v, %v", vs, err)
			}
			if err := c.MarkRevoked(ctx, ca, "a.test", "xyz", at, 0); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("MarkRevoked(bad serial): %v", err)
			}
		})
	}
}

func TestWhatChangedAndStateKey(t *testing.T) {
	const ca = "https://ca.example.test/a/directory"
	std := &Certs{Store: NewMemory()}
	shared := &Certs{Store: NewMemory(), Layout: LayoutShared}
	if k, err := std.StateKey(ca, "*.a.test"); err != nil || k != "manager/ca.example.test_a_directory/_wildcard_.a.test.json" {
		t.Errorf("StateKey = %q, %v", k, err)
	}
	if k, err := shared.StateKey(ca, "a.test"); err != nil || k != "certkeeper/manager/a.test.json" {
		t.Errorf("shared StateKey = %q, %v", k, err)
	}
	for _, tt := range []struct {
		c    *Certs
		key  string
		want Change
	}{
		{std, "certificates/ca_x/a.test/current", Change{ChangeCertificate, "ca_x", "a.test"}},
		{std, "certificates/ca_x/a.test/live", Change{ChangeCertificate, "ca_x", "a.test"}},
		{std, "certificates/ca/a.test/cert.pem", Change{ChangeCertificate, "ca", "a.test"}},
		{std, "certificates/ca_x/a.test/versions/3/cert.pem", Change{}},
		{std, "certificates/ca_x/a.test/key.pem", Change{}},
		{std, "manager/ca_x/_wildcard_.a.test.json", Change{ChangeState, "ca_x", "*.a.test"}},
		{std, "accounts/ca_x/default/account.key", Change{}},
		{shared, "a.test.pem", Change{ChangeCertificate, "", "a.test"}},
		{shared, "client.key", Change{}},
		{shared, "certkeeper/manager/a.test.json", Change{ChangeState, "", "a.test"}},
		{shared, "certkeeper/versions/a.test/2.pem", Change{}},
	} {
		if got := tt.c.WhatChanged(tt.key); got != tt.want {
			t.Errorf("WhatChanged(%q) = %+v, want %+v", tt.key, got, tt.want)
		}
	}
}

func TestPaths(t *testing.T) {
	d := newTestDir(t)
	const ca = "https://ca.test/dir"
	p, err := (&Certs{Store: d}).Paths(ca, "a.test")
	dir := filepath.Join(d.Root(), "certificates", "ca.test_dir", "a.test")
	if err != nil || p.Dir != dir || p.Live != filepath.Join(dir, "live") || p.Cert != filepath.Join(dir, "cert.pem") ||
		p.Key != filepath.Join(dir, "key.pem") || p.Combined != filepath.Join(dir, "combined.pem") {
		t.Errorf("Paths = %+v, %v", p, err)
	}
	p, err = (&Certs{Store: d, Layout: LayoutShared}).Paths(ca, "a.test")
	if f := filepath.Join(d.Root(), "a.test.pem"); err != nil || p.Cert != f || p.Key != f || p.Combined != f || p.Live != "" {
		t.Errorf("shared Paths = %+v, %v", p, err)
	}
	if _, err := (&Certs{Store: NewMemory()}).Paths(ca, "a.test"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Paths of a Memory: %v", err)
	}
}

// noLinks hides Dir's Linker, as a wrapper of a Store would.
type noLinks struct{ Store }

// TestLinkerAndPointerMixed reads and writes one Dir both with and without
// its Linker interface.
func TestLinkerAndPointerMixed(t *testing.T) {
	d := newTestDir(t)
	ctx := t.Context()
	const ca = "https://ca.test/dir"
	plain, linked := &Certs{Store: noLinks{d}}, &Certs{Store: d}
	ps := testPairs(t, 3, "a.test")
	check := func(when string, want pair) {
		t.Helper()
		for _, c := range []*Certs{plain, linked} {
			res, err := c.LoadCertificate(ctx, ca, "a.test")
			if err != nil || !bytes.Equal(res.KeyPEM, want.key) {
				t.Errorf("%s: LoadCertificate (%T): %v", when, c.Store, err)
			}
		}
	}
	if err := plain.SaveCertificate(ctx, CertRecord{Name: "a.test", CA: ca, KeyPEM: ps[0].key, ChainPEM: ps[0].chain}); err != nil {
		t.Fatal(err)
	}
	check("saved without links", ps[0])
	if err := linked.SaveCertificate(ctx, CertRecord{Name: "a.test", CA: ca, KeyPEM: ps[1].key, ChainPEM: ps[1].chain}); err != nil {
		t.Fatal(err)
	}
	check("saved with links", ps[1])
	if _, err := d.Get(ctx, "certificates/ca.test_dir/a.test/current"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale pointer left: %v", err)
	}
	vs, err := linked.Versions(ctx, ca, "a.test")
	if err != nil || len(vs) != 2 || !vs[1].Current {
		t.Errorf("Versions = %+v, %v", vs, err)
	}
}

// pruneOnRead is a Store that, the first time a reader gets a file of a
// version, lets arm run (KeepVersions+1 saves, which prune that version)
// before the reader goes on: the slowest reader a prune can meet.
type pruneOnRead struct {
	Store
	armed atomic.Bool
	arm   func()
}

func (s *pruneOnRead) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.Store.Get(ctx, key)
	if strings.Contains(key, "/versions/") && s.armed.CompareAndSwap(true, false) {
		s.arm()
	}
	return v, err
}

// pruneOnReadLinked is pruneOnRead over a Linker store (a Dir).
type pruneOnReadLinked struct{ *pruneOnRead }

func (s pruneOnReadLinked) Symlink(ctx context.Context, key, target string) error {
	return s.Store.(Linker).Symlink(ctx, key, target)
}

func (s pruneOnReadLinked) Readlink(ctx context.Context, key string) (string, error) {
	return s.Store.(Linker).Readlink(ctx, key)
}

// TestLoadWhilePruned reads a version that is pruned between the reader's
// first and later reads of its files: LoadCertificate must return the
// next version whole, never the chain of the pruned one without its key.
func TestLoadWhilePruned(t *testing.T) {
	for _, backend := range []string{"memory", "dir"} {
		t.Run(backend, func(t *testing.T) {
			var s Store = NewMemory()
			if backend == "dir" {
				s = newTestDir(t)
			}
			ctx := t.Context()
			const ca, name = "https://ca.test/dir", "a.test"
			writer := &Certs{Store: s, KeepVersions: 1}
			pairs := testPairs(t, 3, name)
			save := func(p pair) {
				if err := writer.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
					t.Fatal(err)
				}
			}
			save(pairs[0])
			ps := &pruneOnRead{Store: s, arm: func() { save(pairs[1]); save(pairs[2]) }}
			ps.armed.Store(true)
			reader := &Certs{Store: ps}
			if _, ok := s.(Linker); ok {
				reader.Store = pruneOnReadLinked{ps}
			}
			res, err := reader.LoadCertificate(ctx, ca, name)
			if ps.armed.Load() {
				t.Fatal("the reader read no version file")
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.KeyPEM) == 0 {
				t.Fatal("LoadCertificate returned a chain without its key")
			}
			if _, err := tls.X509KeyPair(res.ChainPEM, res.KeyPEM); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.ChainPEM, pairs[2].chain) {
				t.Error("LoadCertificate did not return the current version")
			}
		})
	}
}

// TestCertWithoutKey saves a certificate ordered with the caller's CSR
// (the store has no key): a Dir offers no key.pem for it (no dangling
// link), Paths.Key is empty, combined.pem holds the chain only; a version
// with a key brings key.pem back, and restoring the keyless one removes
// it again.
func TestCertWithoutKey(t *testing.T) {
	d := newTestDir(t)
	c := &Certs{Store: d}
	ctx := t.Context()
	const ca, name = "https://ca.test/dir", "a.test"
	ps := testPairs(t, 2, name)
	dir := filepath.Join(d.Root(), "certificates", "ca.test_dir", name)
	keyless := func(when string) {
		t.Helper()
		if fi, err := os.Lstat(filepath.Join(dir, "key.pem")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: key.pem: %v, %v; want none", when, fi, err)
		}
		if p, err := c.Paths(ca, name); err != nil || p.Key != "" || p.Cert == "" || p.Combined == "" {
			t.Errorf("%s: Paths = %+v, %v; want no Key", when, p, err)
		}
		data, err := os.ReadFile(filepath.Join(dir, "combined.pem"))
		if err != nil || !bytes.Equal(data, ps[0].chain) {
			t.Errorf("%s: combined.pem %q, %v; want the chain only", when, data, err)
		}
		res, err := c.LoadCertificate(ctx, ca, name)
		if err != nil || len(res.KeyPEM) != 0 || !bytes.Equal(res.ChainPEM, ps[0].chain) {
			t.Errorf("%s: LoadCertificate: %v", when, err)
		}
	}
	if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, ChainPEM: ps[0].chain}); err != nil {
		t.Fatal(err)
	}
	keyless("saved without a key")
	if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: ps[1].key, ChainPEM: ps[1].chain}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(filepath.Join(dir, "key.pem")); err != nil || got != "live/key.pem" {
		t.Errorf("key.pem → %q, %v after a save with a key", got, err)
	}
	if key, err := os.ReadFile(filepath.Join(dir, "key.pem")); err != nil || !bytes.Equal(key, ps[1].key) {
		t.Errorf("key.pem: %v", err)
	}
	if p, err := c.Paths(ca, name); err != nil || p.Key != filepath.Join(dir, "key.pem") {
		t.Errorf("Paths = %+v, %v; want a Key", p, err)
	}
	if err := c.Restore(ctx, ca, name, 1); err != nil {
		t.Fatal(err)
	}
	keyless("restored the version without a key")
}

// TestVersionLeftoversCleared saves over the files a writer that died
// while writing a version left (a key.pem but no cert.pem): the new
// version, here one without a key, does not inherit them.
func TestVersionLeftoversCleared(t *testing.T) {
	for _, backend := range []string{"memory", "dir"} {
		t.Run(backend, func(t *testing.T) {
			var s Store = NewMemory()
			if backend == "dir" {
				s = newTestDir(t)
			}
			c := &Certs{Store: s}
			ctx := t.Context()
			const ca, name = "https://ca.test/dir", "a.test"
			ps := testPairs(t, 2, name)
			if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: ps[0].key, ChainPEM: ps[0].chain}); err != nil {
				t.Fatal(err)
			}
			dir := "certificates/ca.test_dir/" + name
			if err := s.Put(ctx, dir+"/versions/2/key.pem", ps[0].key); err != nil {
				t.Fatal(err)
			}
			if err := s.Put(ctx, dir+"/versions/2/meta.json", []byte("not json")); err != nil {
				t.Fatal(err)
			}
			if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, ChainPEM: ps[1].chain}); err != nil {
				t.Fatal(err)
			}
			res, err := c.LoadCertificate(ctx, ca, name)
			if err != nil || len(res.KeyPEM) != 0 || !bytes.Equal(res.ChainPEM, ps[1].chain) || res.CA != ca {
				t.Errorf("LoadCertificate: %v", err)
			}
		})
	}
}

// MarkRevokedOnce records a revocation that is not recorded yet, and
// keeps the time and reason of one that is.
func TestMarkRevokedOnce(t *testing.T) {
	c := &Certs{Store: NewMemory()}
	ctx := t.Context()
	const ca = "https://ca.test/dir"
	p := testPairs(t, 1, "a.test")[0]
	if err := c.SaveCertificate(ctx, CertRecord{Name: "a.test", CA: ca, KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
		t.Fatal(err)
	}
	res, err := c.LoadCertificate(ctx, ca, "a.test")
	if err != nil {
		t.Fatal(err)
	}
	serial := res.Certificates[0].SerialNumber.Text(16)
	first := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if recorded, err := c.MarkRevokedOnce(ctx, ca, "a.test", serial, first, 1); err != nil || !recorded {
		t.Fatalf("first: recorded %v, %v", recorded, err)
	}
	if recorded, err := c.MarkRevokedOnce(ctx, ca, "a.test", serial, first.Add(time.Hour), 0); err != nil || recorded {
		t.Fatalf("again: recorded %v, %v; want the first kept", recorded, err)
	}
	res, err = c.LoadCertificate(ctx, ca, "a.test")
	if want := (Revocation{Serial: serial, At: first, Reason: 1}); err != nil || res.Revoked == nil || *res.Revoked != want {
		t.Errorf("recorded %+v, %v; want %+v", res.Revoked, err, want)
	}
}
