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
