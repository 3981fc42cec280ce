package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acmetest"
)

// list NAME shows only the certificates of that name, or with it among
// their names; a name the store does not have fails the command.
func TestListNames(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "one.example.test", "www.one.example.test")
	e.mustObtain("-http-listen", e.httpAddr(), "two.example.test")
	for _, name := range []string{"one.example.test", "WWW.one.example.test"} {
		r := e.list("-json", name)
		var entries []listEntry
		if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil || r.code != ExitOK || len(entries) != 1 || entries[0].Name != "one.example.test" {
			t.Errorf("list -json %s: want one.example.test alone (%v):\n%v", name, err, r)
		}
	}
	if r := e.list("nope.example.test"); r.code != ExitError || !strings.Contains(r.stderr, "nope.example.test") {
		t.Errorf("list of a name the store does not have: want exit 1 naming it:\n%v", r)
	}
}

// revoke -cert FILE records the revocation when the file is a stored
// certificate.
func TestRevokeCertFileRecorded(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "file.example.test")
	var entries []listEntry
	if err := json.Unmarshal([]byte(e.list("-json").stdout), &entries); err != nil || len(entries) != 1 || entries[0].Paths == nil {
		t.Fatalf("list -json: %v %+v", err, entries)
	}
	cert := filepath.Join(t.TempDir(), "cert.pem")
	data, err := os.ReadFile(entries[0].Paths.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cert, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t.Context(), append(append([]string{"revoke"}, e.caFlags()...), "-reason", "superseded", "-cert", cert)...); r.code != ExitOK {
		t.Fatalf("revoke -cert: %v", r)
	}
	r := e.list("-json")
	entries = nil
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil || len(entries) != 1 ||
		!entries[0].Revoked || entries[0].Status != "revoked" || entries[0].RevocationReason == nil || *entries[0].RevocationReason != 4 {
		t.Errorf("list -json after revoke -cert: want revoked for reason 4 (superseded) (%v):\n%v", err, r)
	}
}

func TestAccountShowMissingStoreCreatesNothing(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	typo := filepath.Join(base, "nonexistent", "typo")
	r := runCLI(t.Context(), "account", "show", "-store", typo)
	if r.code != ExitError || !strings.Contains(r.stderr, "no store at") {
		t.Errorf("account show of a store that does not exist: want exit 1, \"no store at\"; got\n%v", r)
	}
	if _, err := os.Stat(filepath.Join(base, "nonexistent")); err == nil {
		t.Errorf("account show -store %s created %s", typo, filepath.Join(base, "nonexistent"))
	}
}

// The files of a store of the previous version are where it put them:
// list gives no paths rather than wrong ones.
func TestListLegacyStorePaths(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	writeLegacyStore(t, e, "legacy-paths.example.test")
	r := e.list("-json")
	var entries []listEntry
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil || r.code != ExitOK || len(entries) != 1 {
		t.Fatalf("list -json: %v\n%v", err, r)
	}
	if p := entries[0].Paths; p != nil && !fileHasCert(p.Cert) {
		t.Errorf("list -json: paths.cert %q holds no certificate", p.Cert)
	}
}
