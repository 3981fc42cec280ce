package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/keys"
)

// hookEnv, when set, makes the test binary act as a dns-01 hook: it
// forwards its arguments to the URL in the variable. The tests point
// -dns-hook at their own executable.
const hookEnv = "CERTKEEPER_TEST_DNS_HOOK_URL"

func TestMain(m *testing.M) {
	if u := os.Getenv(hookEnv); u != "" && len(os.Args) == 4 {
		resp, err := http.PostForm(u, map[string][]string{"op": {os.Args[1]}, "name": {os.Args[2]}, "value": {os.Args[3]}})
		if err != nil || resp.StatusCode != 200 {
			fmt.Fprintln(os.Stderr, "hook failed:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath)) // the binary the signal tests built
	}
	os.Exit(code)
}

func TestObtainListRenewRevoke(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	code, out, errs := e.run("obtain", "-http-listen", e.httpAddr(), "www.example.test", "-d", "example.test")
	if code != ExitOK || !strings.Contains(out, "obtained www.example.test") {
		t.Fatalf("obtain: exit %d, printed %q\n%s", code, out, errs)
	}
	// The log says what happens in plain words.
	for _, want := range []string{`msg="obtaining a certificate" event.event=obtaining`, `msg="certificate obtained" event.event=obtained`} {
		if !strings.Contains(errs, want) {
			t.Errorf("obtain's log lacks %s:\n%s", want, errs)
		}
	}
	var entries []listEntry
	if err := json.Unmarshal([]byte(e.must("list", "-json")), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || len(entries[0].Names) != 2 || entries[0].DaysLeft < 85 || !strings.HasPrefix(entries[0].Issuer, "Pebble") {
		t.Fatalf("list -json = %+v", entries)
	}
	if table := e.must("list"); !strings.Contains(table, "DAYS LEFT") || !strings.Contains(table, "www.example.test") {
		t.Errorf("list table:\n%s", table)
	}
	if out := e.must("renew", "-http-listen", e.httpAddr()); !strings.Contains(out, "nothing to renew") {
		t.Errorf("renew of a fresh certificate printed %q", out)
	}
	code, out, errs = e.run("renew", "-force", "-http-listen", e.httpAddr())
	if code != ExitOK || !strings.Contains(out, "renewed www.example.test") {
		t.Errorf("renew -force: exit %d, printed %q\n%s", code, out, errs)
	}
	if !strings.Contains(errs, `msg="renewing a certificate" event.event=renewing`) || !strings.Contains(errs, `msg="certificate renewed" event.event=renewed`) {
		t.Errorf("renew's log:\n%s", errs)
	}
	var after []listEntry
	_ = json.Unmarshal([]byte(e.must("list", "-json")), &after)
	if len(after) != 1 || !after[0].NotBefore.After(entries[0].NotBefore.Add(-time.Second)) {
		t.Errorf("after renewal: %+v", after)
	}
	e.must("revoke", "-reason", "superseded", "www.example.test")
	// The CA answers alreadyRevoked; what was asked holds (docs/cli.md).
	if code, out, errs := e.run("revoke", "www.example.test"); code != ExitOK || !strings.Contains(out, "was already revoked at the CA") {
		t.Errorf("second revoke: exit %d, %s%s", code, out, errs)
	}
}

func TestRevokeWithCertificateKey(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	e.must("obtain", "-http-listen", e.httpAddr(), "k.example.test")
	var entries []listEntry
	if err := json.Unmarshal([]byte(e.must("list", "-json")), &entries); err != nil || len(entries) != 1 || entries[0].Serial == "" {
		t.Fatalf("list -json = %+v, %v", entries, err)
	}
	serial := entries[0].Serial
	if status, _ := e.caStatus(serial); status != "Valid" {
		t.Fatalf("before revoke the CA says %q", status)
	}
	e.must("revoke", "-with-cert-key", "-reason", "key-compromise", "k.example.test")
	// The CA itself, asked on its management port, has it revoked for
	// keyCompromise (RFC 5280 §5.3.1: 1).
	if status, reason := e.caStatus(serial); status != "Revoked" || reason == nil || *reason != 1 {
		t.Errorf("after revoke the CA says %q, reason %v; want Revoked, reason 1 (keyCompromise)", status, reason)
	}
}

// caStatus asks Pebble's management interface (/cert-status-by-serial/)
// what it holds of the certificate with the hexadecimal serial: "Valid" or
// "Revoked", and the revocation reason code if it has one.
func (e *cliEnv) caStatus(serial string) (status string, reason *int) {
	e.t.Helper()
	status, reason, err := e.pebble.CertificateStatus(e.t.Context(), serial)
	if err != nil {
		e.t.Fatal(err)
	}
	return status, reason
}

func TestAccountCommands(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	var acct accountJSON
	if err := json.Unmarshal([]byte(e.must("account", "register", "-json")), &acct); err != nil || acct.Status != "valid" || acct.ID != "admin@example.test" {
		t.Fatalf("register: %+v %v", acct, err)
	}
	// Text by default.
	if out := e.must("account", "show"); !strings.Contains(out, "url:      "+acct.URL) || !strings.Contains(out, "status:   valid") {
		t.Errorf("show: %s", out)
	}
	if out := e.must("account", "update", "-contact", "mailto:other@example.test"); !strings.Contains(out, "contact:  mailto:other@example.test\n") {
		t.Errorf("update: %s", out)
	}
	e.must("account", "rollover", "-new-key-type", "rsa2048")
	// The stored key is the new one: the account still works.
	e.must("obtain", "-http-listen", e.httpAddr(), "after-rollover.example.test")
	if code, out, errs := e.run("account", "deactivate"); code != ExitUsage || out != "" || !strings.Contains(errs, "-yes") {
		t.Errorf("deactivate without -yes nor a terminal: want exit 2 naming -yes; got %d %q %q", code, out, errs)
	}
	if out := e.must("account", "deactivate", "-yes"); !strings.Contains(out, "deactivated") {
		t.Errorf("deactivate: %s", out)
	}
	// The store says so, and the next obtain registers a new account.
	var list []accountJSON
	if err := json.Unmarshal([]byte(e.must("account", "list", "-json")), &list); err != nil || len(list) != 1 || list[0].Status != "deactivated" || list[0].URL != acct.URL {
		t.Errorf("account list -json after deactivate: %+v %v", list, err)
	}
	if code, _, errs := e.run("account", "show"); code == ExitOK || !strings.Contains(errs, "deactivated") {
		t.Errorf("show of a deactivated account: exit %d, %s", code, errs)
	}
	e.must("obtain", "-http-listen", e.httpAddr(), "x.example.test")
	list = nil
	if err := json.Unmarshal([]byte(e.must("account", "list", "-json")), &list); err != nil || len(list) != 1 || list[0].Status != "" || list[0].URL == acct.URL || list[0].URL == "" {
		t.Errorf("account list -json after the next obtain: want a new account; got %+v %v", list, err)
	}
}

func TestSharedLayout(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	e.must("obtain", "-layout", "shared", "-http-listen", e.httpAddr(), "shared.example.test")
	data, err := os.ReadFile(filepath.Join(e.store, "shared.example.test.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.ParsePEM(data); err != nil {
		t.Errorf("shared.example.test.pem has no key: %v", err)
	}
	if _, err := keys.ParseCertificates(data); err != nil {
		t.Errorf("shared.example.test.pem has no chain: %v", err)
	}
	fi, err := os.Stat(filepath.Join(e.store, "client.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("client.key: %v, %v", fi, err)
	}
	// The account is found again by its key alone.
	e.must("obtain", "-layout", "shared", "-http-listen", e.httpAddr(), "again.example.test")
}

func TestDNSHook(t *testing.T) {
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	hook := startDNSHook(t, e)
	e.must("obtain", "-dns-hook", hook.exe, "*.wild.example.test")
	want := []string{"present _acme-challenge.wild.example.test.", "cleanup _acme-challenge.wild.example.test."}
	if calls := hook.called(); strings.Join(calls, "|") != strings.Join(want, "|") {
		t.Errorf("hook calls %q, want %q", calls, want)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, ExitUsage},
		{[]string{"help"}, ExitOK},
		{[]string{"nope"}, ExitUsage},
		{[]string{"obtain", "-http-listen", ":0"}, ExitUsage},
		{[]string{"obtain", "-http-listen", ":0", "bad..name"}, ExitUsage},
		{[]string{"obtain", "www.example.test"}, ExitUsage},
		{[]string{"obtain", "-ca", "nosuchca", "-http-listen", ":0", "www.example.test"}, ExitUsage},
		{[]string{"obtain", "-http-listen", ":0", "-challenge", "dns-01", "www.example.test"}, ExitUsage},
		{[]string{"revoke", "-reason", "because", "x.example.test"}, ExitUsage},
		{[]string{"account", "frobnicate"}, ExitUsage},
		// list takes NAMEs; one that cannot be a name is a usage error.
		{[]string{"list", "bad name"}, ExitUsage},
		// Bad flags are usage errors too (docs/cli.md).
		{[]string{"list", "-nosuch"}, ExitUsage},
		{[]string{"renew", "-nosuch"}, ExitUsage},
		{[]string{"run", "-nosuch"}, ExitUsage},
		{[]string{"obtain", "-nosuch", "www.example.test"}, ExitUsage},
		{[]string{"revoke", "-reason"}, ExitUsage},
		{[]string{"list", "-h"}, ExitOK},
	} {
		if r := runCLI(t.Context(), tc.args...); r.code != tc.want {
			t.Errorf("certkeeper %v: exit %d, want %d (stderr %q)", tc.args, r.code, tc.want, r.stderr)
		}
	}
}

func TestWildcardNeedsDNSSolver(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	code, _, errs := e.run("obtain", "-http-listen", e.httpAddr(), "*.example.test")
	if code != ExitUsage || !strings.Contains(errs, "dns-01") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

func TestValidationFailureExitCode(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	// Nothing listens where Pebble validates http-01.
	code, _, errs := e.run("obtain", "-http-webroot", t.TempDir(), "nothing.example.test")
	if code != ExitValidation || !strings.Contains(errs, "nothing.example.test") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

// One unreadable certificate in the store must not hide the others from
// list, nor stop renew from renewing them.
func TestUnreadableCertificateDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	e.must("obtain", "-http-listen", e.httpAddr(), "www.example.test")
	cas, err := os.ReadDir(filepath.Join(e.store, "certificates"))
	cas = slices.DeleteFunc(cas, func(d os.DirEntry) bool { return d.Name() == "_index" })
	if err != nil || len(cas) != 1 {
		t.Fatalf("store: %v %v", cas, err)
	}
	bad := filepath.Join(e.store, "certificates", cas[0].Name(), "bad.example.test")
	if err := os.MkdirAll(bad, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "cert.pem"), []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := e.run("list", "-json")
	var entries []listEntry
	_ = json.Unmarshal([]byte(out), &entries)
	if code != ExitError || len(entries) != 1 || entries[0].Name != "www.example.test" || !strings.Contains(errs, "bad.example.test") {
		t.Errorf("list: exit %d, entries %+v, stderr %q", code, entries, errs)
	}
	code, out, errs = e.run("renew", "-force", "-http-listen", e.httpAddr())
	if code != ExitPartial || !strings.Contains(out, "renewed www.example.test") || !strings.Contains(errs, "bad.example.test") {
		t.Errorf("renew: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
