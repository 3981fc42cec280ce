package cli

// Tests of store faults a break-it round found with the built command:
// revoke on a store that cannot record it, a CA that says the
// certificate is already revoked.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/store"
)

// TestRevokeUnwritableStoreSendsNothing: revoke of a stored certificate
// on a store that cannot record the revocation refuses, naming the store,
// before anything reaches the CA (it used to revoke at the CA, then fail,
// leaving list calling it valid).
func TestRevokeUnwritableStoreSendsNothing(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "ro-revoke.example.test")
	makeUnwritable(t, e.store)

	r := runCLI(t.Context(), "revoke", "-store", e.store, "ro-revoke.example.test")
	if r.code != ExitError || !strings.Contains(r.stderr, e.store) || !strings.Contains(r.stderr, "nothing was sent to the CA") {
		t.Errorf("revoke on an unwritable store: want exit 1 naming the store and saying nothing was sent; got\n%v", r)
	}
	if strings.Contains(r.stdout, "revoked") {
		t.Errorf("revoke on an unwritable store printed %q", r.stdout)
	}
	if posts := e.proxy.revokePosts(); len(posts) != 0 {
		t.Errorf("%d revocation request(s) sent for a store that cannot record it", len(posts))
	}
}

// TestRevokeAlreadyRevokedRecords: when the CA answers alreadyRevoked
// (RFC 8555 §7.6), as it does for a certificate revoked through a copy of
// the store or by an earlier run whose store could not record it, revoke
// records the revocation, says so and exits 0; a second run keeps the
// first record.
func TestRevokeAlreadyRevokedRecords(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "again.example.test")
	backup := filepath.Join(t.TempDir(), "backup")
	if err := os.CopyFS(backup, os.DirFS(e.store)); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t.Context(), "revoke", "-store", backup, "again.example.test"); r.code != ExitOK {
		t.Fatalf("revoke through the copy: %v", r)
	}

	r := runCLI(t.Context(), "revoke", "-store", e.store, "again.example.test")
	if r.code != ExitOK || !strings.Contains(r.stdout, "was already revoked at the CA; recorded in the store") {
		t.Fatalf("revoke of a certificate the CA had revoked: want exit 0 saying it was already revoked and is recorded; got\n%v", r)
	}
	if posts := e.proxy.revokePosts(); len(posts) != 2 || posts[1].Status != 400 {
		t.Errorf("revocation requests %+v: want the copy's, then one answered alreadyRevoked", posts)
	}
	listed := func() listEntry {
		t.Helper()
		var entries []listEntry
		l := e.list("-json")
		if err := json.Unmarshal([]byte(l.stdout), &entries); err != nil || len(entries) != 1 {
			t.Fatalf("list -json: %v\n%v", err, l)
		}
		return entries[0]
	}
	first := listed()
	if !first.Revoked || first.Status != "revoked" || first.RevokedAt == nil {
		t.Fatalf("list after revoke: %+v, want it revoked", first)
	}

	r = runCLI(t.Context(), "revoke", "-store", e.store, "again.example.test")
	if r.code != ExitOK || !strings.Contains(r.stdout, "was already revoked at the CA\n") {
		t.Errorf("second revoke: want exit 0 saying it was already revoked; got\n%v", r)
	}
	if again := listed(); again.RevokedAt == nil || !again.RevokedAt.Equal(*first.RevokedAt) {
		t.Errorf("second revoke changed the recorded time: %v, was %v", again.RevokedAt, first.RevokedAt)
	}
}

// certDirOf is the directory of the certificate name from e's CA in its
// store (LayoutStandard).
func (e *cliEnv) certDirOf(name string) string {
	e.t.Helper()
	d, err := store.CADirName(e.ca())
	if err != nil {
		e.t.Fatal(err)
	}
	return filepath.Join(e.store, "certificates", d, name)
}

// TestRenewReplacesForeignLink: a live link (or the version it names)
// that the store did not make, planted or corrupt, is replaced by the
// save of the certificate renew obtains again, in one step; the
// certificate counts once. It used to fail every save after the CA
// issued (a new order and a rescue file at each cron run) and to count
// "2 of 2 certificates failed" for one.
func TestRenewReplacesForeignLink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, dir, outside string)
	}{
		{"live to a directory outside the store", func(t *testing.T, dir, outside string) {
			replaceWithLink(t, filepath.Join(dir, "live"), outside)
		}},
		{"live to itself", func(t *testing.T, dir, _ string) {
			replaceWithLink(t, filepath.Join(dir, "live"), "live")
		}},
		{"live as a file", func(t *testing.T, dir, _ string) {
			if err := os.Remove(filepath.Join(dir, "live")); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, "live", "not a link\n", 0o600)
		}},
		{"current version a link outside the store", func(t *testing.T, dir, outside string) {
			target, err := os.Readlink(filepath.Join(dir, "live"))
			if err != nil {
				t.Fatal(err)
			}
			v := filepath.Join(dir, target)
			if err := os.Rename(v, filepath.Join(outside, "moved")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(outside, "moved"), v); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newLineageEnv(t, acmetest.PebbleOptions{})
			e.mustObtain("-http-listen", e.httpAddr(), "planted.example.test")
			outside := t.TempDir()
			tc.plant(t, e.certDirOf("planted.example.test"), outside)
			r := e.renew()
			if r.code != ExitOK || !strings.Contains(r.stdout, "planted.example.test") || strings.Contains(r.stderr, "failed") || strings.Contains(r.stderr, "not stored") {
				t.Fatalf("renew of a certificate with a planted link: want exit 0, obtained again and stored; got\n%v", r)
			}
			live, err := os.Readlink(filepath.Join(e.certDirOf("planted.example.test"), "live"))
			if err != nil || !strings.HasPrefix(live, "versions/") {
				t.Errorf("live -> %q (%v), want the store's own link to a version", live, err)
			}
			if fi, err := os.Lstat(filepath.Join(e.certDirOf("planted.example.test"), live)); err != nil || !fi.IsDir() {
				t.Errorf("live leads to %v (%v), want a version directory in the store", fi, err)
			}
			if ents, _ := os.ReadDir(outside); tc.name == "current version a link outside the store" && len(ents) != 1 {
				t.Errorf("what the planted link led to was touched: %v", ents)
			}
			orders := e.proxy.orders()
			if r := e.renew(); r.code != ExitOK || !strings.Contains(r.stdout, "nothing to renew") {
				t.Errorf("second renew: want nothing to renew; got\n%v", r)
			}
			e.requireNoNewOrder(orders, r)
		})
	}
}

// replaceWithLink replaces path with a symbolic link to target.
func replaceWithLink(t *testing.T, path, target string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// TestRenewLiveDirectoryRefusedBeforeOrder: where the store keeps its
// live link stands a directory, which no save can replace in one step:
// renew says so, naming its absolute path, and orders nothing (it used to
// order, fail to save and rescue the certificate to a file at each run).
func TestRenewLiveDirectoryRefusedBeforeOrder(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "dirlive.example.test")
	live := filepath.Join(e.certDirOf("dirlive.example.test"), "live")
	if err := os.Remove(live); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(live, 0o700); err != nil {
		t.Fatal(err)
	}
	orders := e.proxy.orders()

	r := e.renew()
	if r.code != ExitPartial || !strings.Contains(r.stderr, live+" is a directory") || !strings.Contains(r.stderr, "1 of 1 certificates failed") {
		t.Errorf("renew with a directory as live: want exit 6 naming %s, one certificate failed; got\n%v", live, r)
	}
	e.requireNoNewOrder(orders, r)
	if strings.Contains(r.stderr, "not stored") {
		t.Errorf("renew obtained a certificate it could not store:\n%v", r)
	}

	// obtain refuses it the same way.
	r = e.obtain("-force", "-http-listen", e.httpAddr(), "dirlive.example.test")
	if r.code != ExitError || !strings.Contains(r.stderr, live+" is a directory") {
		t.Errorf("obtain -force with a directory as live: want exit 1 naming %s; got\n%v", live, r)
	}
	e.requireNoNewOrder(orders, r)
}

// TestLocksFileNamedAbsolute: a store whose .locks is a regular file:
// renew and revoke name it by its absolute path (they named
// ".locks/<hash>.holder").
func TestLocksFileNamedAbsolute(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "locks.example.test")
	locks := filepath.Join(e.store, ".locks")
	if err := os.RemoveAll(locks); err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.store, ".locks", "not a directory\n", 0o600)
	orders := e.proxy.orders()
	for _, r := range []cliResult{
		e.renew("-force"),
		runCLI(t.Context(), "revoke", "-store", e.store, "locks.example.test"),
	} {
		if r.code == ExitOK || !strings.Contains(r.stderr, locks+", where the store keeps its locks, is not a directory") || strings.Contains(r.stderr, " .locks/") {
			t.Errorf("want a failure naming %s; got\n%v", locks, r)
		}
	}
	if posts := e.proxy.revokePosts(); len(posts) != 0 {
		t.Errorf("%d revocation request(s) sent", len(posts))
	}
	if n := e.proxy.orders() - orders; n != 0 {
		t.Errorf("%d order(s) placed by a renew that could not lock the store", n)
	}
}

// TestFailedFirstObtainLeavesNoDirectory: a first obtain whose challenge
// fails leaves no certificates/<ca>/<name>/ behind (it left an empty
// one), and list and renew see nothing of it.
func TestFailedFirstObtainLeavesNoDirectory(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	// Pebble validates on its HTTPPort; nothing answers there.
	if r := e.obtain("-http-listen", "127.0.0.1:0", "gone.example.test"); r.code != ExitValidation {
		t.Fatalf("obtain whose challenge fails: want exit 5; got\n%v", r)
	}
	if _, err := os.Lstat(e.certDirOf("gone.example.test")); !os.IsNotExist(err) {
		ents, _ := os.ReadDir(e.certDirOf("gone.example.test"))
		t.Errorf("a failed first obtain left %s (%v, holding %v)", e.certDirOf("gone.example.test"), err, ents)
	}
	if l := e.list(); l.code != ExitOK || strings.Contains(l.stdout, "gone.example.test") {
		t.Errorf("list after a failed first obtain:\n%v", l)
	}
	orders := e.proxy.orders()
	if r := e.renew(); r.code != ExitOK || strings.Contains(r.stdout+r.stderr, "gone.example.test") {
		t.Errorf("renew after a failed first obtain:\n%v", r)
	}
	e.requireNoNewOrder(orders, cliResult{})
}
