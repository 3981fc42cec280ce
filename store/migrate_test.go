package store

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

const (
	caA = "https://ca.example.test/a/directory"
	caB = "https://ca.example.test/b/directory"
)

// oldStore writes by hand what certkeeper wrote when CA directories were
// named by host and port: two directories on one host, so one of them
// (b) had its certificate under the same host-port directory.
func oldStore(t *testing.T, s Store) (a, b pair, acct []byte) {
	ctx := t.Context()
	a, b = testPairs(t, 1, "www.a.test")[0], testPairs(t, 1, "www.b.test")[0]
	acct, _ = testCert(t, "acct")
	put := func(k, v string) {
		t.Helper()
		if err := s.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	put("certificates/ca.example.test/www.a.test/key.pem", string(a.key))
	put("certificates/ca.example.test/www.a.test/cert.pem", string(a.chain))
	put("certificates/ca.example.test/www.a.test/meta.json", `{"name":"www.a.test","ca":"`+caA+`"}`)
	put("certificates/ca.example.test/www.b.test/key.pem", string(b.key))
	put("certificates/ca.example.test/www.b.test/cert.pem", string(b.chain))
	put("certificates/ca.example.test/www.b.test/meta.json", `{"name":"www.b.test","ca":"`+caB+`"}`)
	put("accounts/ca.example.test/default/account.key", string(acct))
	put("accounts/ca.example.test/default/account.json", `{"ca":"`+caA+`","url":"https://ca.example.test/acct/1"}`)
	put("manager/ca.example.test/www.a.test.json", `{"name":"www.a.test","failures":2}`)
	// No certificate tells which of the host's two CAs this is.
	put("manager/ca.example.test/orphan.test.json", `{"name":"orphan.test"}`)
	return a, b, acct
}

func TestMigrate(t *testing.T) {
	for _, backend := range []string{"memory", "dir"} {
		t.Run(backend, func(t *testing.T) {
			var s Store = NewMemory()
			if backend == "dir" {
				s = newTestDir(t)
			}
			testMigrate(t, s)
		})
	}
}

func testMigrate(t *testing.T, s Store) {
	ctx := t.Context()
	a, b, acct := oldStore(t, s)
	c := &Certs{Store: s}

	// Before the move, readers find everything, each under its own CA.
	if res, err := c.LoadCertificate(ctx, caA, "www.a.test"); err != nil || !bytes.Equal(res.KeyPEM, a.key) {
		t.Errorf("LoadCertificate(a) before Migrate: %v", err)
	}
	if _, err := c.LoadCertificate(ctx, caB, "www.a.test"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadCertificate(a) from CA b: %v", err)
	}
	if l, err := c.ListCertificates(ctx, caB); err != nil || len(l) != 1 || l[0].Name != "www.b.test" {
		t.Errorf("ListCertificates(b) before Migrate: %+v, %v", l, err)
	}
	if rec, err := c.LoadAccount(ctx, caA, ""); err != nil || !bytes.Equal(rec.KeyPEM, acct) {
		t.Errorf("LoadAccount(a) before Migrate: %v", err)
	}
	if _, err := c.LoadAccount(ctx, caB, ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadAccount(b) before Migrate: %v", err)
	}
	if st, err := c.LoadState(ctx, caA, "www.a.test"); err != nil || !bytes.Contains(st, []byte(`"failures":2`)) {
		t.Errorf("LoadState(a) before Migrate: %q, %v", st, err)
	}

	// Two processes migrate at once.
	var wg sync.WaitGroup
	reps := make([]MigrationReport, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { reps[i], errs[i] = (&Certs{Store: s}).Migrate(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	rep := reps[0]
	if len(rep.Moved) == 0 {
		rep = reps[1]
	}
	wantMoved := []Move{
		{"certificates/ca.example.test/www.a.test", "certificates/ca.example.test_a_directory/www.a.test"},
		{"certificates/ca.example.test/www.b.test", "certificates/ca.example.test_b_directory/www.b.test"},
		{"accounts/ca.example.test/default", "accounts/ca.example.test_a_directory/default"},
		{"manager/ca.example.test/www.a.test.json", "manager/ca.example.test_a_directory/www.a.test.json"},
	}
	if !slices.Equal(rep.Moved, wantMoved) || len(rep.Conflicts) != 0 || !slices.Equal(rep.Unknown, []string{"manager/ca.example.test/orphan.test.json"}) {
		t.Errorf("report = %+v\nwant moved %+v", rep, wantMoved)
	}
	ks, _ := s.List(ctx, "")
	want := []string{
		"accounts/ca.example.test_a_directory/default/account.json",
		"accounts/ca.example.test_a_directory/default/account.key",
		"certificates/ca.example.test_a_directory/www.a.test/cert.pem",
		"certificates/ca.example.test_a_directory/www.a.test/key.pem",
		"certificates/ca.example.test_a_directory/www.a.test/meta.json",
		"certificates/ca.example.test_b_directory/www.b.test/cert.pem",
		"certificates/ca.example.test_b_directory/www.b.test/key.pem",
		"certificates/ca.example.test_b_directory/www.b.test/meta.json",
		"manager/ca.example.test/orphan.test.json",
		"manager/ca.example.test_a_directory/www.a.test.json",
	}
	if !slices.Equal(ks, want) {
		t.Errorf("after Migrate:\n%q\nwant\n%q", ks, want)
	}
	for _, tt := range []struct {
		ca, name string
		p        pair
	}{{caA, "www.a.test", a}, {caB, "www.b.test", b}} {
		res, err := c.LoadCertificate(ctx, tt.ca, tt.name)
		if err != nil || !bytes.Equal(res.KeyPEM, tt.p.key) || !bytes.Equal(res.ChainPEM, tt.p.chain) {
			t.Errorf("LoadCertificate(%s) after Migrate: %v", tt.name, err)
		}
	}
	if rec, err := c.LoadAccount(ctx, caA, ""); err != nil || !bytes.Equal(rec.KeyPEM, acct) || rec.URL == "" {
		t.Errorf("LoadAccount after Migrate: %+v, %v", rec, err)
	}
	// Again: nothing to do.
	if rep, err := c.Migrate(ctx); err != nil || len(rep.Moved) != 0 {
		t.Errorf("second Migrate: %+v, %v", rep, err)
	}
}

// TestMigrateLazily moves the old layout at the first write.
func TestMigrateLazily(t *testing.T) {
	s := NewMemory()
	ctx := t.Context()
	oldStore(t, s)
	c := &Certs{Store: s}
	p := testPairs(t, 1, "www.a.test")[0]
	if err := c.SaveCertificate(ctx, CertRecord{Name: "www.a.test", CA: caA, KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
		t.Fatal(err)
	}
	if ks, _ := s.List(ctx, "certificates/ca.example.test/"); len(ks) != 0 {
		t.Errorf("old certificates left: %q", ks)
	}
	// The old certificate became version 1 of the new place.
	vs, err := c.Versions(ctx, caA, "www.a.test")
	if err != nil || len(vs) != 2 || !vs[1].Current {
		t.Errorf("Versions = %+v, %v", vs, err)
	}
}

// failing fails the nth Put or Delete, as a crash there would stop the
// migration.
type failing struct {
	Store
	mu         sync.Mutex
	puts, dels int // countdowns; the call that reaches 0 fails
}

var errCrash = errors.New("crash")

func (f *failing) Put(ctx context.Context, k string, v []byte) error {
	f.mu.Lock()
	f.puts--
	fail := f.puts == 0
	f.mu.Unlock()
	if fail {
		return errCrash
	}
	return f.Store.Put(ctx, k, v)
}

func (f *failing) Delete(ctx context.Context, k string) error {
	f.mu.Lock()
	f.dels--
	fail := f.dels == 0
	f.mu.Unlock()
	if fail {
		return errCrash
	}
	return f.Store.Delete(ctx, k)
}

// TestMigrateCrash stops the migration at every write in turn, then runs
// it again: every key is always in one place or the other, and the
// second run completes the move.
func TestMigrateCrash(t *testing.T) {
	for _, op := range []string{"put", "delete"} {
		for n := 1; n <= 12; n++ {
			s := NewMemory()
			a, b, acct := oldStore(t, s)
			f := &failing{Store: s}
			if op == "put" {
				f.puts = n
			} else {
				f.dels = n
			}
			_, err := (&Certs{Store: f}).Migrate(t.Context())
			if err != nil && !errors.Is(err, errCrash) {
				t.Fatalf("%s %d: %v", op, n, err)
			}
			// Whatever the crash left, readers find every key.
			c := &Certs{Store: s}
			check := func(when string) {
				for _, tt := range []struct {
					ca, name string
					p        pair
				}{{caA, "www.a.test", a}, {caB, "www.b.test", b}} {
					res, err := c.LoadCertificate(t.Context(), tt.ca, tt.name)
					if err != nil || !bytes.Equal(res.KeyPEM, tt.p.key) {
						t.Errorf("%s %d, %s: LoadCertificate(%s): %v", op, n, when, tt.name, err)
					}
				}
				if rec, err := c.LoadAccount(t.Context(), caA, ""); err != nil || !bytes.Equal(rec.KeyPEM, acct) {
					t.Errorf("%s %d, %s: LoadAccount: %v", op, n, when, err)
				}
			}
			check("after the crash")
			if _, err := c.Migrate(t.Context()); err != nil {
				t.Fatalf("%s %d: Migrate again: %v", op, n, err)
			}
			check("after the second run")
			if ks, _ := s.List(t.Context(), "certificates/ca.example.test/"); len(ks) != 0 {
				t.Errorf("%s %d: old keys left: %q", op, n, ks)
			}
		}
	}
}

// TestMigrateConflict leaves a directory whose new place holds something
// else where it is.
func TestMigrateConflict(t *testing.T) {
	s := NewMemory()
	ctx := t.Context()
	a, _, _ := oldStore(t, s)
	s.Put(ctx, "certificates/ca.example.test_a_directory/www.a.test/key.pem", []byte("another key"))
	rep, err := (&Certs{Store: s}).Migrate(ctx)
	if err != nil || !slices.Equal(rep.Conflicts, []string{"certificates/ca.example.test/www.a.test/key.pem"}) {
		t.Fatalf("report %+v, %v", rep, err)
	}
	if v, err := s.Get(ctx, "certificates/ca.example.test/www.a.test/key.pem"); err != nil || !bytes.Equal(v, a.key) {
		t.Errorf("the old key was not kept: %v", err)
	}
}

// TestMigrateConflictCopiesNothing: a conflict on the key copied last (the
// chain) leaves nothing of the directory at its new place; every key is
// checked before any is written.
func TestMigrateConflictCopiesNothing(t *testing.T) {
	s := NewMemory()
	ctx := t.Context()
	oldStore(t, s)
	const to = "certificates/ca.example.test_a_directory/www.a.test/"
	s.Put(ctx, to+"cert.pem", []byte("another chain"))
	rep, err := (&Certs{Store: s}).Migrate(ctx)
	if err != nil || !slices.Equal(rep.Conflicts, []string{"certificates/ca.example.test/www.a.test/cert.pem"}) {
		t.Fatalf("report %+v, %v", rep, err)
	}
	if ks, _ := s.List(ctx, to); !slices.Equal(ks, []string{to + "cert.pem"}) {
		t.Errorf("at the new place after a conflict: %q, want only what was there", ks)
	}
}

// TestMigrateSharedState moves the shared layout's renewal state under
// certkeeper/.
func TestMigrateSharedState(t *testing.T) {
	s := NewMemory()
	ctx := t.Context()
	s.Put(ctx, "manager/127.0.0.1-14000/a.test.json", []byte(`{"name":"a.test"}`))
	c := &Certs{Store: s, Layout: LayoutShared}
	if st, err := c.LoadState(ctx, "https://127.0.0.1:14000/dir", "a.test"); err != nil || len(st) == 0 {
		t.Errorf("LoadState before Migrate: %v", err)
	}
	if recs, err := c.ListStates(ctx, ""); err != nil || len(recs) != 1 || recs[0].Name != "a.test" {
		t.Errorf("ListStates before Migrate: %+v, %v", recs, err)
	}
	if _, err := c.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if ks, _ := s.List(ctx, ""); !slices.Equal(ks, []string{"certkeeper/manager/a.test.json"}) {
		t.Errorf("after Migrate: %q", ks)
	}
}

// TestListStates finds states at their place and where an older
// certkeeper kept them, once each.
func TestListStates(t *testing.T) {
	s := NewMemory()
	ctx := t.Context()
	s.Put(ctx, "manager/ca.example.test/www.a.test.json", []byte(`{"old":1}`))
	s.Put(ctx, "manager/ca.example.test/www.c.test.json", []byte(`{"old":1}`))
	c := &Certs{Store: s}
	if err := c.SaveState(ctx, caA, "www.a.test", []byte(`{"new":1}`)); err != nil {
		t.Fatal(err)
	}
	// SaveState migrated what it could: www.c.test's CA is unknown.
	recs, err := c.ListStates(ctx, caA)
	if err != nil || len(recs) != 2 || recs[0].Name != "www.a.test" || string(recs[0].Data) != `{"new":1}` ||
		recs[0].CADir != "ca.example.test_a_directory" || recs[1].Name != "www.c.test" {
		t.Errorf("ListStates(a) = %+v, %v", recs, err)
	}
	// Every CA: the old directory is one more (its CA unknown).
	all, err := c.ListStates(ctx, "")
	if err != nil || len(all) != 3 {
		t.Errorf("ListStates(\"\") = %+v, %v", all, err)
	}
}

// TestMigrateLockErrorSaysNoMigration checks that a write to a Dir whose
// locks cannot be taken (here its .locks is a file, as read-only or full
// stores fail alike) reports the lock's failure, not a failed move of
// what an older certkeeper stored: the store holds nothing old, and
// users went looking for it.
func TestMigrateLockErrorSaysNoMigration(t *testing.T) {
	d := newTestDir(t)
	if err := os.WriteFile(filepath.Join(d.Root(), lockDir), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Certs{Store: d}
	p := testPairs(t, 1, "www.a.test")[0]
	err := c.SaveCertificate(t.Context(), CertRecord{Name: "www.a.test", CA: caA, KeyPEM: p.key, ChainPEM: p.chain})
	if err == nil {
		t.Fatal("SaveCertificate succeeded without a lock")
	}
	if strings.Contains(err.Error(), "moving what an older") || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("SaveCertificate: %v, want the lock's error alone", err)
	}
}

// In a Dir, the migration looks only through the CA directories an older
// version named: a store of this version's directories is not listed
// file by file at a process's first write.
func TestMigrateLooksOnlyThroughOldDirectories(t *testing.T) {
	ctx := t.Context()
	d := newTestDir(t)
	oldStore(t, d)
	c := &Certs{Store: d}
	a := testPairs(t, 1, "www.new.test")[0]
	if err := c.SaveCertificate(ctx, CertRecord{Name: "www.new.test", CA: caA, KeyPEM: a.key, ChainPEM: a.chain}); err != nil {
		t.Fatal(err)
	}
	for area, want := range map[string][]string{
		certsDir:       nil,                                    // moved by the save's migration
		legacyStateDir: {legacyStateDir + "/ca.example.test/"}, // the orphan's state stays
	} {
		got, err := c.legacyPrefixes(ctx, area)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("legacyPrefixes(%s) = %q, %v; want %q", area, got, err, want)
		}
	}
	if err := d.Put(ctx, "certificates/ca.example.test/www.c.test/cert.pem", a.chain); err != nil {
		t.Fatal(err)
	}
	got, err := c.legacyPrefixes(ctx, certsDir)
	if want := []string{certsDir + "/ca.example.test/"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("legacyPrefixes(%s) with an old directory = %q, %v; want %q", certsDir, got, err, want)
	}
}
