package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
)

// The keys of a certificate in every command's JSON (docs/cli.md).
var (
	entryKeys = []string{"name", "names", "ca", "account", "status", "lineage", "cert_names", "serial", "issuer",
		"not_before", "not_after", "days_left", "next_renewal", "next_renewal_exact", "last_error", "failures",
		"last_success", "revoked", "revoked_at", "revocation_reason", "paths"}
	resultKeys = append(append([]string{}, entryKeys...), "outcome", "error")
)

// obtain, renew and revoke -json print list's certificate object with
// outcome and error; list keeps its own.
func TestCertificateJSON(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	r := e.mustObtain("-json", "-http-listen", e.httpAddr(), "j.example.test", "www.j.example.test")
	var got certResult
	decodeStrict(t, r.stdout, &got, resultKeys)
	if got.Outcome != "obtained" || got.Error != "" || got.Name != "j.example.test" || len(got.Names) != 2 ||
		got.Status != "valid" || got.NotAfter == nil || got.NotAfter.Location() != time.UTC || got.Serial == "" || got.CA != e.ca() {
		t.Errorf("obtain -json: %+v", got)
	}
	if !strings.Contains(r.stdout, `"not_after": "`) || !strings.HasSuffix(strings.TrimSpace(strings.SplitN(strings.SplitN(r.stdout, `"not_after": "`, 2)[1], `"`, 2)[0]), "Z") {
		t.Errorf("not_after is not RFC 3339 UTC:\n%s", r.stdout)
	}
	// Again: nothing ordered, still_valid.
	r = e.mustObtain("-json", "-http-listen", e.httpAddr(), "j.example.test", "www.j.example.test")
	got = certResult{}
	decodeStrict(t, r.stdout, &got, resultKeys)
	if got.Outcome != "still_valid" {
		t.Errorf("obtain -json of a held certificate: %+v", got)
	}
	// A failure is JSON too, with its error, and the exit code says so.
	r = e.obtain("-json", "-http-listen", "127.0.0.1:1", "fail.example.test")
	got = certResult{}
	if r.code == ExitOK {
		t.Fatalf("obtain that fails: %v", r)
	}
	decodeStrict(t, r.stdout, &got, resultKeys)
	if got.Outcome != "failed" || got.Error == "" || got.Name != "fail.example.test" || got.Status != "missing" {
		t.Errorf("obtain -json that fails: %+v", got)
	}

	r = e.renew("-json", "-force", "-http-listen", e.httpAddr())
	var results []certResult
	if r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	decodeStrict(t, r.stdout, &results, resultKeys)
	if len(results) != 1 || results[0].Outcome != "renewed" || results[0].Serial == got.Serial || results[0].Name != "j.example.test" {
		t.Errorf("renew -json: %+v", results)
	}
	r = e.renew("-json")
	results = nil
	decodeStrict(t, r.stdout, &results, resultKeys)
	if len(results) != 1 || results[0].Outcome != "not_due" {
		t.Errorf("renew -json, nothing due: %+v", results)
	}

	r = runCLI(t.Context(), append(append([]string{"revoke", "-json"}, e.caFlags()...), "-reason", "superseded", "j.example.test")...)
	got = certResult{}
	if r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	decodeStrict(t, r.stdout, &got, resultKeys)
	if got.Outcome != "revoked" || got.Status != "revoked" || !got.Revoked || got.RevokedAt == nil || got.RevocationReason == nil || *got.RevocationReason != 4 {
		t.Errorf("revoke -json: %+v", got)
	}

	r = e.list("-json")
	var entries []listEntry
	decodeStrict(t, r.stdout, &entries, entryKeys)
}

// doctor -json is snake_case; a CA that cannot be reached fails the
// command, loudly, in text and JSON.
func TestDoctorUnreachableCA(t *testing.T) {
	if testing.Short() {
		t.Skip("integration tier (waits doctor's real 4 s timeout): skipped under -short")
	}
	t.Parallel()
	closed := "127.0.0.1:1"
	args := []string{"doctor", "-ca", "https://" + closed + "/directory", "-timeout", "4s", "-http-listen", closed, "-tls-listen", closed, "127.0.0.1"}
	r := runCLI(t.Context(), args...)
	if r.code != ExitError || !strings.Contains(r.stdout, "FAIL  CA https://127.0.0.1:1/directory cannot be reached") ||
		!strings.Contains(r.stderr, "cannot be reached") {
		t.Errorf("doctor with an unreachable CA: want exit 1 and a FAIL line:\n%v", r)
	}
	r = runCLI(t.Context(), append([]string{"doctor", "-json"}, args[1:]...)...)
	var rep doctorReport
	decodeStrict(t, r.stdout, &rep, []string{"ca", "caa_identities", "ca_error", "names", "ok"})
	if r.code != ExitError || rep.OK || rep.CAError == "" {
		t.Errorf("doctor -json with an unreachable CA: %+v\n%v", rep, r)
	}
}
