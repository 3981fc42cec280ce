package cli

// End-to-end tests of the command line rebuilt on the lineage engine
// (obtain records how a certificate was obtained; renew renews it exactly
// so, from -store alone). Each runs against its own Pebble behind a
// counting proxy (lineage_helpers_test.go), with its own store.

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/store"
)

// ---------------------------------------------------------------------
// obtain: what is held already

func TestObtainSameNamesStillValid(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "same.example.test")
	serial := serialOf(t, e.store, e.ca(), "same.example.test")
	orders := e.proxy.orders()

	r := e.obtain("-http-listen", e.httpAddr(), "same.example.test")
	if r.code != ExitOK || !strings.Contains(r.stdout, "still valid") {
		t.Errorf("obtain of a held, valid certificate: want exit 0 and \"still valid\"; got\n%v", r)
	}
	e.requireNoNewOrder(orders, r)
	if got := serialOf(t, e.store, e.ca(), "same.example.test"); got != serial {
		t.Errorf("stored certificate replaced: serial %s, was %s", got, serial)
	}
}

func TestObtainForceOrdersAgain(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "force.example.test")
	serial := serialOf(t, e.store, e.ca(), "force.example.test")
	orders := e.proxy.ordersPlaced()

	r := e.obtain("-force", "-http-listen", e.httpAddr(), "force.example.test")
	if r.code != ExitOK {
		t.Fatalf("obtain -force: %v", r)
	}
	// Orders created, not newOrder requests: the one that names the old
	// certificate as replaced may be refused (see ordersPlaced).
	if n := e.proxy.ordersPlaced() - orders; n != 1 {
		t.Errorf("obtain -force placed %d orders, want 1", n)
	}
	if got := serialOf(t, e.store, e.ca(), "force.example.test"); got == serial {
		t.Errorf("obtain -force kept the old certificate (serial %s)", got)
	}
}

func TestObtainChangedNamesNeedExpand(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "grow.example.test", "www.grow.example.test")
	serial := serialOf(t, e.store, e.ca(), "grow.example.test")
	orders := e.proxy.orders()

	r := e.obtain("-http-listen", e.httpAddr(), "grow.example.test", "www.grow.example.test", "api.grow.example.test")
	if r.code != ExitUsage || !(strings.Contains(r.stderr, "-expand") || strings.Contains(r.stderr, "-replace")) || r.flagMissing() {
		t.Errorf("obtain adding a name without -expand: want exit 2 naming -expand; got\n%v", r)
	}
	e.requireNoNewOrder(orders, r)
	if got := serialOf(t, e.store, e.ca(), "grow.example.test"); got != serial {
		t.Errorf("stored certificate changed: serial %s, was %s", got, serial)
	}
}

func TestObtainExpandAddsNames(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "expand.example.test", "www.expand.example.test")

	r := e.obtain("-expand", "-http-listen", e.httpAddr(), "expand.example.test", "www.expand.example.test", "api.expand.example.test")
	if r.code != ExitOK {
		t.Fatalf("obtain -expand: %v", r)
	}
	got := mustStoredCert(t, e.store, e.ca(), "expand.example.test")
	if want := []string{"expand.example.test", "www.expand.example.test", "api.expand.example.test"}; !store.SameIdentifiers(got.Identifiers, want) {
		t.Errorf("after -expand the certificate is for %v, want %v", got.Identifiers, want)
	}
}

func TestObtainExpandRefusesRemovedName(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "shrink.example.test", "www.shrink.example.test")
	serial := serialOf(t, e.store, e.ca(), "shrink.example.test")
	orders := e.proxy.orders()

	// -expand allows only a superset: dropping www needs -replace.
	r := e.obtain("-expand", "-http-listen", e.httpAddr(), "shrink.example.test", "api.shrink.example.test")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "-replace") || r.flagMissing() {
		t.Errorf("obtain -expand dropping a name: want exit 2 naming -replace; got\n%v", r)
	}
	e.requireNoNewOrder(orders, r)
	if got := serialOf(t, e.store, e.ca(), "shrink.example.test"); got != serial {
		t.Errorf("stored certificate changed: serial %s, was %s", got, serial)
	}
}

func TestObtainReplaceChangesNames(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "replace.example.test", "www.replace.example.test")

	r := e.obtain("-replace", "-http-listen", e.httpAddr(), "replace.example.test", "api.replace.example.test")
	if r.code != ExitOK {
		t.Fatalf("obtain -replace: %v", r)
	}
	got := mustStoredCert(t, e.store, e.ca(), "replace.example.test")
	if want := []string{"replace.example.test", "api.replace.example.test"}; !store.SameIdentifiers(got.Identifiers, want) {
		t.Errorf("after -replace the certificate is for %v, want %v", got.Identifiers, want)
	}
}

func TestObtainCertName(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	r := e.obtain("-cert-name", "mysite", "-http-listen", e.httpAddr(), "named.example.test", "www.named.example.test")
	if r.code != ExitOK {
		t.Fatalf("obtain -cert-name: %v", r)
	}
	got := mustStoredCert(t, e.store, e.ca(), "mysite")
	if want := []string{"named.example.test", "www.named.example.test"}; !store.SameIdentifiers(got.Identifiers, want) {
		t.Errorf("certificate mysite is for %v, want %v", got.Identifiers, want)
	}
	if other := storedCert(t, e.store, e.ca(), "named.example.test"); other != nil {
		t.Errorf("also stored under its first name: %v", other.Identifiers)
	}
	// The same request again is the held certificate.
	orders := e.proxy.orders()
	r = e.obtain("-cert-name", "mysite", "-http-listen", e.httpAddr(), "named.example.test", "www.named.example.test")
	if r.code != ExitOK || !strings.Contains(r.stdout, "still valid") {
		t.Errorf("second obtain -cert-name mysite: %v", r)
	}
	e.requireNoNewOrder(orders, r)
}

// Two obtains of one name at once on one store: the second waits for the
// first and finds its certificate.
func TestObtainConcurrentSameName(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	var wg sync.WaitGroup
	results := make([]cliResult, 2)
	for i := range results {
		wg.Go(func() { results[i] = e.obtain("-http-listen", e.httpAddr(), "race.example.test") })
	}
	wg.Wait()
	for _, r := range results {
		if r.code != ExitOK {
			t.Errorf("concurrent obtain failed: %v", r)
		}
	}
	if n := e.proxy.orders(); n != 1 {
		t.Errorf("two concurrent obtains placed %d orders, want 1:\n%v\n%v", n, results[0], results[1])
	}
	if serialOf(t, e.store, e.ca(), "race.example.test") == "" {
		t.Errorf("no certificate stored")
	}
}

// ---------------------------------------------------------------------
// obtain: local checks before any order

func TestObtainReadOnlyStoreFailsBeforeOrder(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "ro.example.test")
	serial := serialOf(t, e.store, e.ca(), "ro.example.test")
	makeUnwritable(t, e.store)
	orders, accountReqs := e.proxy.orders(), e.proxy.accountRequests()

	// A new -email would register a new account: it must not, either.
	r := runCLI(t.Context(), "obtain", "-ca", e.ca(), "-ca-root", e.root, "-store", e.store,
		"-email", "other@example.test", "-agree-tos", "-http-listen", e.httpAddr(), "ro2.example.test")
	if r.code != ExitError || !strings.Contains(strings.ToLower(r.stderr), "not writable") {
		t.Errorf("obtain into a read-only store: want exit 1 saying the store is not writable; got\n%v", r)
	}
	e.requireNoNewOrder(orders, r)
	if n := e.proxy.accountRequests() - accountReqs; n != 0 {
		t.Errorf("%d newAccount request(s) sent for a store that cannot keep the account", n)
	}
	if got := serialOf(t, e.store, e.ca(), "ro.example.test"); got != serial {
		t.Errorf("stored certificate changed: serial %s, was %s", got, serial)
	}
}

func TestObtainUnwritableParentFailsBeforeOrder(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	parent := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	makeUnwritable(t, parent)
	e.store = filepath.Join(parent, "store")

	r := e.obtain("-http-listen", e.httpAddr(), "fresh.example.test")
	if r.code != ExitError || !strings.Contains(strings.ToLower(r.stderr), "not writable") {
		t.Errorf("obtain into a store that cannot be created: want exit 1 saying the store is not writable; got\n%v", r)
	}
	e.requireNoNewOrder(0, r)
	if n := e.proxy.accountRequests(); n != 0 {
		t.Errorf("%d newAccount request(s) sent for a store that cannot keep the account", n)
	}
}

func TestListMissingStoreCreatesNothing(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	typo := filepath.Join(base, "nonexistent", "typo")
	r := runCLI(t.Context(), "list", "-store", typo)
	if r.code != ExitError {
		t.Errorf("list of a store that does not exist: want exit 1; got\n%v", r)
	}
	if _, err := os.Stat(filepath.Join(base, "nonexistent")); err == nil {
		t.Errorf("list -store %s created %s", typo, filepath.Join(base, "nonexistent"))
	}
}

func TestObtainMissingWebrootFailsBeforeOrder(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	base := t.TempDir()
	webroot := filepath.Join(base, "nonexistent", "typo")
	r := e.obtain("-http-webroot", webroot, "webroot.example.test")
	if r.code != ExitError && r.code != ExitUsage {
		t.Errorf("obtain -http-webroot %s: want exit 1 or 2; got\n%v", webroot, r)
	}
	e.requireNoNewOrder(0, r)
	if _, err := os.Stat(filepath.Join(base, "nonexistent")); err == nil {
		t.Errorf("obtain created the missing webroot's parent %s", filepath.Join(base, "nonexistent"))
	}
}

func TestObtainBusyHTTPListenFailsBeforeOrder(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	r := e.obtain("-http-listen", addr, "busy.example.test")
	if r.code == ExitOK || !strings.Contains(r.stderr, addr) {
		t.Errorf("obtain -http-listen on a busy %s: want failure naming the address; got\n%v", addr, r)
	}
	e.requireNoNewOrder(0, r)
}

func TestObtainMalformedHTTPListen(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	r := e.obtain("-http-listen", "nonsense", "malformed.example.test")
	if r.code != ExitUsage {
		t.Errorf("obtain -http-listen nonsense: want exit 2; got\n%v", r)
	}
	e.requireNoNewOrder(0, r)
}

func TestObtainCSRNamesMismatch(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	csr := writeCSR(t, t.TempDir(), "csr.example.test")
	r := e.obtain("-csr", csr, "-http-listen", e.httpAddr(), "other.example.test")
	if r.code != ExitUsage {
		t.Errorf("obtain -csr for other names: want exit 2; got\n%v", r)
	}
	e.requireNoNewOrder(0, r)
}

func TestObtainNamesFromCSR(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	csr := writeCSR(t, t.TempDir(), "fromcsr.example.test", "www.fromcsr.example.test")
	r := e.obtain("-csr", csr, "-http-listen", e.httpAddr())
	if r.code != ExitOK {
		t.Fatalf("obtain -csr without names: %v", r)
	}
	got := mustStoredCert(t, e.store, e.ca(), "fromcsr.example.test")
	if want := []string{"fromcsr.example.test", "www.fromcsr.example.test"}; !store.SameIdentifiers(leafOfRecord(t, got).DNSNames, want) {
		t.Errorf("certificate is for %v, want the CSR's %v", leafOfRecord(t, got).DNSNames, want)
	}
	// The store has no key for it: no key.pem, not even a dangling link.
	caDir, err := store.CADirName(e.ca())
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(e.store, "certificates", caDir, "fromcsr.example.test", "key.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("key.pem of a certificate ordered with a CSR: %v, %v", fi, err)
	}
}

func TestObtainUnknownChallenge(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	r := e.obtain("-challenge", "bogus-01", "-http-listen", e.httpAddr(), "bogus.example.test")
	if r.code != ExitUsage {
		t.Errorf("obtain -challenge bogus-01: want exit 2; got\n%v", r)
	}
	e.requireNoNewOrder(0, r)
}

// obtain records everything a renewal needs in the lineage record.
func TestObtainWritesLineage(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{Profiles: map[string]acmetest.Profile{
		"default": {Description: "the default"}, "custom": {Description: "another"},
	}})
	hook := newDeployHook(t)
	r := e.obtain("-key-type", "ec384", "-challenge", "http-01", "-http-listen", e.httpAddr(),
		"-profile", "custom", "-preferred-chain", "Some Root", "-deploy-hook", hook.path,
		"lineage.example.test", "www.lineage.example.test")
	if r.code != ExitOK {
		t.Fatalf("obtain: %v", r)
	}
	l, err := openCerts(t, e.store).LoadLineage(t.Context(), e.ca(), "lineage.example.test")
	if err != nil {
		t.Fatalf("no lineage record: %v", err)
	}
	if l.CA != e.ca() || l.CARoot != e.root || l.Account == "" || l.KeyType != "ec384" ||
		l.Profile != "custom" || l.PreferredChain != "Some Root" ||
		!store.SameIdentifiers(l.Identifiers, []string{"lineage.example.test", "www.lineage.example.test"}) ||
		!slices.Equal(l.Challenges, []string{"http-01"}) ||
		!strings.Contains(string(l.Solvers), e.httpAddr()) ||
		len(l.Hooks) != 1 || l.Hooks[0].Command != hook.path {
		b, _ := json.MarshalIndent(l, "", "  ")
		t.Errorf("lineage record:\n%s", b)
	}
}

// ---------------------------------------------------------------------
// renew: as obtained, from -store alone

func TestRenewAsObtainedKeyType(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-key-type", "rsa2048", "-http-listen", e.httpAddr(), "rsa.example.test")
	serial := serialOf(t, e.store, e.ca(), "rsa.example.test")
	firstOrders := e.proxy.createdOrders()
	accounts := accountURLs(t, e.store, "")

	r := e.renew("-force")
	if r.code != ExitOK {
		t.Fatalf("renew -force -store S: %v", r)
	}
	got := mustStoredCert(t, e.store, e.ca(), "rsa.example.test")
	if leafOfRecord(t, got).SerialNumber.Text(16) == serial {
		t.Errorf("not renewed: serial unchanged")
	}
	if kt := keyTypeOf(t, got); kt != "rsa2048" {
		t.Errorf("renewed key is %s, want rsa2048 as obtained", kt)
	}
	orders := e.proxy.createdOrders()
	if len(orders) != len(firstOrders)+1 {
		t.Fatalf("renew placed %d orders, want 1", len(orders)-len(firstOrders))
	}
	if renewed, obtained := orders[len(orders)-1].KID, firstOrders[len(firstOrders)-1].KID; renewed != obtained {
		t.Errorf("renewed with account %q, obtained with %q", renewed, obtained)
	}
	if after := accountURLs(t, e.store, ""); !slices.Equal(after, accounts) {
		t.Errorf("accounts in the store: %v, were %v", after, accounts)
	}
}

func TestRenewKeyTypeOverrideIsOneOff(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-key-type", "rsa2048", "-http-listen", e.httpAddr(), "oneoff.example.test")

	if r := e.renew("-force", "-key-type", "ec384"); r.code != ExitOK {
		t.Fatalf("renew -key-type ec384: %v", r)
	}
	if kt := keyTypeOf(t, mustStoredCert(t, e.store, e.ca(), "oneoff.example.test")); kt != "ec384" {
		t.Errorf("after renew -key-type ec384 the key is %s", kt)
	}
	if r := e.renew("-force"); r.code != ExitOK {
		t.Fatalf("second renew: %v", r)
	}
	if kt := keyTypeOf(t, mustStoredCert(t, e.store, e.ca(), "oneoff.example.test")); kt != "rsa2048" {
		t.Errorf("the next plain renew made a %s key, want rsa2048: the one-off override changed the lineage", kt)
	}
}

func TestRenewUpdateLineageKeepsOverride(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-key-type", "rsa2048", "-http-listen", e.httpAddr(), "update.example.test")

	if r := e.renew("-force", "-key-type", "ec384", "-update-lineage"); r.code != ExitOK {
		t.Fatalf("renew -key-type ec384 -update-lineage: %v", r)
	}
	if r := e.renew("-force"); r.code != ExitOK {
		t.Fatalf("second renew: %v", r)
	}
	if kt := keyTypeOf(t, mustStoredCert(t, e.store, e.ca(), "update.example.test")); kt != "ec384" {
		t.Errorf("after -update-lineage the next renew made a %s key, want ec384", kt)
	}
}

func TestRenewEveryCA(t *testing.T) {
	t.Parallel()
	a := newLineageEnv(t, acmetest.PebbleOptions{})
	b := a.otherCA(acmetest.PebbleOptions{})
	a.mustObtain("-http-listen", a.httpAddr(), "ca-a.example.test")
	b.mustObtain("-http-listen", b.httpAddr(), "ca-b.example.test")
	serialA := serialOf(t, a.store, a.ca(), "ca-a.example.test")
	serialB := serialOf(t, b.store, b.ca(), "ca-b.example.test")

	r := a.renew("-force")
	if r.code != ExitOK {
		t.Fatalf("renew -force: %v", r)
	}
	if serialOf(t, a.store, a.ca(), "ca-a.example.test") == serialA {
		t.Errorf("the certificate of CA a was not renewed:\n%v", r)
	}
	if serialOf(t, b.store, b.ca(), "ca-b.example.test") == serialB {
		t.Errorf("the certificate of CA b was not renewed:\n%v", r)
	}
}

func TestRenewNamedOnly(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "one.example.test")
	e.mustObtain("-http-listen", e.httpAddr(), "two.example.test")
	one, two := serialOf(t, e.store, e.ca(), "one.example.test"), serialOf(t, e.store, e.ca(), "two.example.test")

	if r := e.renew("-force", "one.example.test"); r.code != ExitOK {
		t.Fatalf("renew -force NAME: %v", r)
	}
	if serialOf(t, e.store, e.ca(), "one.example.test") == one {
		t.Errorf("the named certificate was not renewed")
	}
	if serialOf(t, e.store, e.ca(), "two.example.test") != two {
		t.Errorf("a certificate not named was renewed")
	}
}

// One CA unreachable: the other's certificate is renewed and the exit
// code is 6.
func TestRenewPartialFailureExit6(t *testing.T) {
	t.Parallel()
	a := newLineageEnv(t, acmetest.PebbleOptions{})
	b := a.otherCA(acmetest.PebbleOptions{})
	a.mustObtain("-http-listen", a.httpAddr(), "up.example.test")
	b.mustObtain("-http-listen", b.httpAddr(), "down.example.test")
	serialA := serialOf(t, a.store, a.ca(), "up.example.test")
	b.proxy.Close()

	r := a.renew("-force")
	if r.code != ExitPartial || !strings.Contains(r.stderr, "down.example.test") {
		t.Errorf("renew with one CA down: want exit 6 naming down.example.test; got\n%v", r)
	}
	if serialOf(t, a.store, a.ca(), "up.example.test") == serialA {
		t.Errorf("the certificate of the reachable CA was not renewed:\n%v", r)
	}
}

// ---------------------------------------------------------------------
// deploy hooks

func TestDeployHookRunsOnRenew(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	hook := newDeployHook(t)
	e.mustObtain("-deploy-hook", hook.path, "-http-listen", e.httpAddr(), "hook.example.test", "www.hook.example.test")
	before := len(hook.runs())

	if r := e.renew("-force"); r.code != ExitOK {
		t.Fatalf("renew -force: %v", r)
	}
	runs := hook.runs()
	if len(runs) != before+1 {
		t.Fatalf("deploy hook ran %d times on renew -force, want once", len(runs)-before)
	}
	if runs[len(runs)-1] != "0" {
		t.Errorf("deploy hook got %s arguments, want none", runs[len(runs)-1])
	}
	res := mustStoredCert(t, e.store, e.ca(), "hook.example.test")
	env := hook.lastEnv(t)
	for k, v := range map[string]string{
		"CERTKEEPER_EVENT": "renewed",
		"CERTKEEPER_NAME":  "hook.example.test",
		"CERTKEEPER_NAMES": "hook.example.test,www.hook.example.test",
	} {
		if env[k] != v {
			t.Errorf("hook saw %s=%q, want %q", k, env[k], v)
		}
	}
	if p := env["CERTKEEPER_CERT_PATH"]; p == "" || !fileHasCert(p) {
		t.Errorf("hook saw CERTKEEPER_CERT_PATH=%q", p)
	}
	if p := env["CERTKEEPER_KEY_PATH"]; p == "" {
		t.Errorf("hook saw no CERTKEEPER_KEY_PATH")
	} else if _, err := os.Stat(p); err != nil {
		t.Errorf("CERTKEEPER_KEY_PATH: %v", err)
	}
	if na, err := time.Parse(time.RFC3339, env["CERTKEEPER_NOT_AFTER"]); err != nil || !na.Equal(leafOfRecord(t, res).NotAfter) {
		t.Errorf("hook saw CERTKEEPER_NOT_AFTER=%q, want the renewed certificate's %v", env["CERTKEEPER_NOT_AFTER"], leafOfRecord(t, res).NotAfter)
	}
}

func TestDeployHookNotRunWhenNothingRenewed(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	hook := newDeployHook(t)
	e.mustObtain("-deploy-hook", hook.path, "-http-listen", e.httpAddr(), "idle.example.test")
	before := len(hook.runs())

	r := e.renew()
	if r.code != ExitOK {
		t.Fatalf("renew with nothing due: %v", r)
	}
	if n := len(hook.runs()) - before; n != 0 {
		t.Errorf("deploy hook ran %d times when nothing was renewed", n)
	}
	if e.proxy.orders() != 1 {
		t.Errorf("renew with nothing due placed an order")
	}
}

// ---------------------------------------------------------------------
// account recovery

// resetCA replaces e's Pebble, behind the same proxy and directory URL,
// by a fresh one validating on the same port: the stored account is
// unknown there (accountDoesNotExist).
func (e *cliEnv) resetCA() {
	e.t.Helper()
	fresh := acmetest.NewTestPebble(e.t, acmetest.PebbleOptions{HTTPPort: e.pebble.HTTPPort})
	if err := e.pebble.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.proxy.setUpstream(fresh)
	e.pebble = fresh
}

func TestObtainRecoversUnknownAccount(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "before.example.test")
	e.resetCA()
	regs := e.proxy.registrations()

	r := e.obtain("-http-listen", e.httpAddr(), "after.example.test")
	if r.code != ExitOK || !strings.Contains(strings.ToLower(r.stderr), "regist") {
		t.Fatalf("obtain after a CA reset: want success and a message about registering a new account; got\n%v", r)
	}
	if n := e.proxy.registrations() - regs; n != 1 {
		t.Errorf("%d accounts registered at the fresh CA, want 1", n)
	}
	mustStoredCert(t, e.store, e.ca(), "after.example.test")
}

func TestRenewRecoversUnknownAccount(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "renewreset.example.test")
	serial := serialOf(t, e.store, e.ca(), "renewreset.example.test")
	e.resetCA()
	regs := e.proxy.registrations()

	r := e.renew("-force")
	if r.code != ExitOK || !strings.Contains(strings.ToLower(r.stderr), "regist") {
		t.Fatalf("renew after a CA reset: want success and a message about registering a new account; got\n%v", r)
	}
	if n := e.proxy.registrations() - regs; n != 1 {
		t.Errorf("%d accounts registered at the fresh CA, want 1", n)
	}
	if serialOf(t, e.store, e.ca(), "renewreset.example.test") == serial {
		t.Errorf("not renewed")
	}
}

// ---------------------------------------------------------------------
// two directories on one host:port

func TestTwoDirectoriesOneHost(t *testing.T) {
	t.Parallel()
	a := newLineageEnv(t, acmetest.PebbleOptions{})
	b := a.otherCA(acmetest.PebbleOptions{})
	dirs := startDirectoryFront(t, map[string]*acmeProxy{"a": a.proxy, "b": b.proxy})
	obtain := func(e *cliEnv, ca, name string) {
		t.Helper()
		r := runCLI(t.Context(), "obtain", "-ca", ca, "-ca-root", a.root, "-store", a.store,
			"-email", a.email, "-agree-tos", "-http-listen", e.httpAddr(), name)
		if r.code != ExitOK {
			t.Fatalf("obtain from %s: %v", ca, r)
		}
	}
	obtain(a, dirs["a"], "dir-a.example.test")
	obtain(b, dirs["b"], "dir-b.example.test")

	if a.proxy.registrations() != 1 || b.proxy.registrations() != 1 {
		t.Errorf("accounts registered: %d at a, %d at b; want one each", a.proxy.registrations(), b.proxy.registrations())
	}
	if urls := accountURLs(t, a.store, ""); len(urls) != 2 || urls[0] == urls[1] {
		t.Errorf("accounts in the store: %v, want two", urls)
	}
	if c := storedCert(t, a.store, dirs["a"], "dir-a.example.test"); c == nil {
		t.Errorf("no dir-a.example.test from %s; store holds %v", dirs["a"], storedNames(t, a.store))
	}
	if c := storedCert(t, a.store, dirs["b"], "dir-b.example.test"); c == nil {
		t.Errorf("no dir-b.example.test from %s; store holds %v", dirs["b"], storedNames(t, a.store))
	}
	r := a.list("-json")
	var entries []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil || r.code != ExitOK {
		t.Fatalf("list -json: %v\n%v", err, r)
	}
	want := map[string]string{"dir-a.example.test": dirs["a"], "dir-b.example.test": dirs["b"]}
	for _, en := range entries {
		if name, _ := en["name"].(string); want[name] != "" && en["ca"] == want[name] {
			delete(want, name)
		}
	}
	if len(want) > 0 {
		t.Errorf("list -json lacks %v:\n%s", want, r.stdout)
	}
}

// ---------------------------------------------------------------------
// list

func TestListShowsEveryCA(t *testing.T) {
	t.Parallel()
	a := newLineageEnv(t, acmetest.PebbleOptions{})
	b := a.otherCA(acmetest.PebbleOptions{})
	a.mustObtain("-http-listen", a.httpAddr(), "list-a.example.test")
	b.mustObtain("-http-listen", b.httpAddr(), "list-b.example.test")

	r := a.list()
	if r.code != ExitOK {
		t.Fatalf("list: %v", r)
	}
	header, _, _ := strings.Cut(r.stdout, "\n")
	if !slices.Contains(strings.Fields(header), "CA") {
		t.Errorf("list table has no CA column:\n%s", r.stdout)
	}
	for _, e := range []*cliEnv{a, b} {
		if !strings.Contains(r.stdout, e.proxy.Addr()) {
			t.Errorf("list table does not show CA %s:\n%s", e.ca(), r.stdout)
		}
	}
	for _, name := range []string{"list-a.example.test", "list-b.example.test"} {
		if !strings.Contains(r.stdout, name) {
			t.Errorf("list table does not show %s:\n%s", name, r.stdout)
		}
	}
	r = a.list("-json")
	var entries []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		t.Fatalf("list -json: %v\n%v", err, r)
	}
	cas := map[string]bool{}
	for _, en := range entries {
		if ca, ok := en["ca"].(string); ok {
			cas[ca] = true
		}
	}
	if !cas[a.ca()] || !cas[b.ca()] {
		t.Errorf("list -json shows CAs %v, want %s and %s", cas, a.ca(), b.ca())
	}
}

func TestListJSONFields(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "fields.example.test", "www.fields.example.test")
	r := e.list("-json")
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil || r.code != ExitOK || len(entries) != 1 {
		t.Fatalf("list -json: want exit 0 and one entry (%v):\n%v", err, r)
	}
	en := entries[0]
	var (
		name     string
		names    []string
		ca       string
		notAfter time.Time
		next     *time.Time
		paths    struct{ Cert, Key string }
	)
	for k, v := range map[string]any{"name": &name, "names": &names, "ca": &ca, "not_after": &notAfter, "next_renewal": &next, "paths": &paths} {
		raw, ok := en[k]
		if !ok {
			t.Errorf("list -json entry has no %q:\n%s", k, r.stdout)
			continue
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Errorf("list -json %q: %v", k, err)
		}
	}
	if name != "fields.example.test" || len(names) != 2 || ca != e.ca() {
		t.Errorf("list -json: name %q, names %v, ca %q", name, names, ca)
	}
	if next == nil || !next.After(time.Now()) || !next.Before(notAfter) {
		t.Errorf("list -json: next_renewal %v, not_after %v", next, notAfter)
	}
	if !fileHasCert(paths.Cert) {
		t.Errorf("list -json: paths.cert %q holds no certificate", paths.Cert)
	}
	if _, err := os.Stat(paths.Key); paths.Key == "" || err != nil {
		t.Errorf("list -json: paths.key %q: %v", paths.Key, err)
	}
}

// A certificate asked for but never obtained is listed with its whole
// last error.
func TestListShowsFailedRenewal(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	// A first obtain that fails leaves nothing for list (or renew).
	if r := e.obtain("-http-webroot", t.TempDir(), "never.example.test"); r.code != ExitValidation {
		t.Fatalf("obtain with a solver that cannot work: want exit 5; got\n%v", r)
	}
	if l := e.list("-json"); strings.Contains(l.stdout, "never.example.test") {
		t.Errorf("list shows a certificate whose first obtain failed:\n%v", l)
	}
	e.mustObtain("-http-listen", e.httpAddr(), "failed.example.test")
	// The renewal's port is taken (Pebble may reuse the valid
	// authorization, so a failing validation is not certain).
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r := runCLI(t.Context(), "renew", "-store", e.store, "-force", "-http-listen", busy.Addr().String(), "failed.example.test")
	if r.code != ExitPartial {
		t.Fatalf("renew with a solver that cannot work: want exit 6; got\n%v", r)
	}
	// The error the command printed, without its "certkeeper obtain: "
	// prefix. Its end (the deepest detail, from the CA's validation) must
	// be in list's last error: a truncated error loses it.
	var msg string
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if m, ok := strings.CutPrefix(line, "certkeeper renew: failed.example.test: "); ok {
			msg = m
		}
	}
	if len(msg) < 100 {
		t.Fatalf("obtain printed no (long) error:\n%v", r)
	}
	tail := msg[len(msg)-60:]

	l := e.list("-json")
	var entries []map[string]any
	if err := json.Unmarshal([]byte(l.stdout), &entries); err != nil {
		t.Fatalf("list -json: %v\n%v", err, l)
	}
	var found bool
	for _, en := range entries {
		if en["name"] != "failed.example.test" {
			continue
		}
		found = true
		lastErr, _ := en["last_error"].(string)
		if lastErr == "" {
			lastErr, _ = en["error"].(string)
		}
		if !strings.Contains(lastErr, tail) {
			t.Errorf("list -json: last error of failed.example.test is %q, want the whole error, which ends in %q", lastErr, tail)
		}
	}
	if !found {
		t.Errorf("list -json does not show the certificate that failed:\n%v", l)
	}
	if table := e.list(); !strings.Contains(table.stdout, "failed.example.test") || !strings.Contains(table.stdout, tail) {
		t.Errorf("list table does not show failed.example.test with its whole error, which ends in %q:\n%v", tail, table)
	}
}

func TestListShowsRevoked(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "revoked.example.test")
	if r := runCLI(t.Context(), append(append([]string{"revoke"}, e.caFlags()...), "revoked.example.test")...); r.code != ExitOK {
		t.Fatalf("revoke: %v", r)
	}
	r := e.list("-json")
	var entries []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil || len(entries) != 1 {
		t.Fatalf("list -json: want one entry (%v):\n%v", err, r)
	}
	switch v := entries[0]["revoked"].(type) {
	case bool:
		if !v {
			t.Errorf("list -json: revoked false")
		}
	case string:
		if v == "" {
			t.Errorf("list -json: revoked empty")
		}
	default:
		t.Errorf("list -json does not mark the certificate revoked:\n%s", r.stdout)
	}
	if table := e.list(); !strings.Contains(strings.ToLower(table.stdout), "revoked") {
		t.Errorf("list table does not show revoked:\n%v", table)
	}
}

// ---------------------------------------------------------------------
// stores written by the previous version

func TestListAndRenewLegacyStore(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	acctURL := writeLegacyStore(t, e, "legacy.example.test", "www.legacy.example.test")
	serial := serialOf(t, e.store, e.ca(), "legacy.example.test")

	r := e.list("-json")
	var entries []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil || r.code != ExitOK ||
		len(entries) != 1 || entries[0]["name"] != "legacy.example.test" || entries[0]["ca"] != e.ca() {
		t.Errorf("list -json of a store of the previous version: want exit 0 and its one certificate (%v):\n%v", err, r)
	}
	// The previous version kept no CA root: it is given for this run.
	r = e.renew("-force", "-ca-root", e.root, "-http-listen", e.httpAddr())
	if r.code != ExitOK {
		t.Fatalf("renew of a store of the previous version: %v", r)
	}
	if serialOf(t, e.store, e.ca(), "legacy.example.test") == serial {
		t.Errorf("not renewed")
	}
	if orders := e.proxy.newOrders(); len(orders) == 0 || orders[len(orders)-1].KID != acctURL {
		t.Errorf("renewed with account %v, want the stored %s", orders, acctURL)
	}
	if n := e.proxy.registrations(); n != 1 {
		t.Errorf("%d accounts registered, want only the previous version's", n)
	}
}
