package cli

// Tests of command-line faults a user test found: revoke and the
// certificate's recorded account, internationalised names, commands that
// must not create a store, file flags, exit codes, the rescue message.

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/manager"
)

// revokePosts returns the POSTs to the CA's revokeCert resource.
func (x *acmeProxy) revokePosts() []proxiedPost {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []proxiedPost
	for _, p := range x.posts {
		if strings.Contains(strings.ToLower(p.Path), "revoke") {
			out = append(out, p)
		}
	}
	return out
}

// ---------------------------------------------------------------------
// 1. revoke NAME uses the certificate's lineage: its CA and account.

func TestRevokeUsesLineageAccount(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "rev.example.test", "www.rev.example.test")
	urls := accountURLs(t, e.store, e.ca())
	if len(urls) != 1 {
		t.Fatalf("accounts: %v", urls)
	}
	// No -email, no -ca, no -ca-root: the lineage record says them all.
	r := runCLI(t.Context(), "revoke", "-store", e.store, "rev.example.test")
	if r.code != ExitOK {
		t.Fatalf("revoke NAME without -email: %v", r)
	}
	if !strings.Contains(r.stdout, "revoked certificate rev.example.test (rev.example.test, www.rev.example.test; serial ") {
		t.Errorf("revoke printed %q: want the name and names", r.stdout)
	}
	posts := e.proxy.revokePosts()
	if len(posts) != 1 || posts[0].KID != urls[0] || posts[0].Status != 200 {
		t.Errorf("revocation requests %+v: want one, signed by the account %s", posts, urls[0])
	}
	if n := e.proxy.registrations(); n != 1 {
		t.Errorf("%d accounts registered, want 1", n)
	}
	var entries []listEntry
	if l := e.list("-json"); json.Unmarshal([]byte(l.stdout), &entries) != nil || len(entries) != 1 || !entries[0].Revoked {
		t.Errorf("list does not show it revoked:\n%v", l)
	}
}

func TestRevokeNameFromSeveralCAs(t *testing.T) {
	t.Parallel()
	a := newLineageEnv(t, acmetest.PebbleOptions{})
	b := a.otherCA(acmetest.PebbleOptions{})
	a.mustObtain("-http-listen", a.httpAddr(), "both.example.test")
	b.mustObtain("-http-listen", b.httpAddr(), "both.example.test")

	r := runCLI(t.Context(), "revoke", "-store", a.store, "both.example.test")
	if r.code != ExitUsage || !strings.Contains(r.stderr, a.ca()) || !strings.Contains(r.stderr, b.ca()) || !strings.Contains(r.stderr, "-ca") {
		t.Errorf("revoke of a name two CAs issued, without -ca: want exit 2 naming both CAs and -ca; got\n%v", r)
	}
	if n := len(a.proxy.revokePosts()) + len(b.proxy.revokePosts()); n != 0 {
		t.Errorf("%d revocation requests sent", n)
	}
	r = runCLI(t.Context(), "revoke", "-store", a.store, "-ca", b.ca(), "both.example.test")
	if r.code != ExitOK {
		t.Fatalf("revoke -ca: %v", r)
	}
	if len(a.proxy.revokePosts()) != 0 || len(b.proxy.revokePosts()) != 1 {
		t.Errorf("revocations: %d at a, %d at b; want 0 and 1", len(a.proxy.revokePosts()), len(b.proxy.revokePosts()))
	}

	r = runCLI(t.Context(), "revoke", "-store", a.store, "nosuch.example.test")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "the store has no certificate nosuch.example.test") {
		t.Errorf("revoke of a name the store does not have: want exit 2; got\n%v", r)
	}
}

func TestRevokeCertFileUsesLineageAccount(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "file.example.test")
	res := mustStoredCert(t, e.store, e.ca(), "file.example.test")
	p := writeFile(t, t.TempDir(), "cert.pem", string(res.ChainPEM), 0o600)
	r := runCLI(t.Context(), "revoke", "-store", e.store, "-cert", p)
	if r.code != ExitOK || !strings.Contains(r.stdout, "revoked certificate file.example.test (file.example.test;") {
		t.Fatalf("revoke -cert of a stored certificate, without -email or -ca: %v", r)
	}
	var entries []listEntry
	if l := e.list("-json"); json.Unmarshal([]byte(l.stdout), &entries) != nil || len(entries) != 1 || !entries[0].Revoked {
		t.Errorf("list does not show it revoked:\n%v", l)
	}
}

// ---------------------------------------------------------------------
// 2. Internationalised names.

func TestObtainInternationalisedName(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	const puny = "xn--bcher-kva.example.test"
	r := e.mustObtain("-http-listen", e.httpAddr(), "bücher.example.test", "dup.example.test", "dup.example.test", "DUP.example.test")
	if !strings.Contains(r.stdout, "obtained "+puny+" ("+puny+", dup.example.test)") {
		t.Errorf("obtain printed %q", r.stdout)
	}
	l, err := openCerts(t, e.store).LoadLineage(context.Background(), e.ca(), puny)
	if err != nil {
		t.Fatalf("lineage of %s: %v (store holds %v)", puny, err, storedNames(t, e.store))
	}
	if want := []string{puny, "dup.example.test"}; fmt.Sprint(l.Identifiers) != fmt.Sprint(want) {
		t.Errorf("lineage names %q, want %q", l.Identifiers, want)
	}
	leaf := leafOfRecord(t, mustStoredCert(t, e.store, e.ca(), puny))
	if fmt.Sprint(leaf.DNSNames) != fmt.Sprint([]string{"dup.example.test", puny}) && fmt.Sprint(leaf.DNSNames) != fmt.Sprint([]string{puny, "dup.example.test"}) {
		t.Errorf("certificate names %q", leaf.DNSNames)
	}
	// The same names again, as typed: the same certificate.
	orders := e.proxy.orders()
	r = e.obtain("-http-listen", e.httpAddr(), "BÜCHER.example.test", "dup.example.test")
	if r.code != ExitOK || !strings.Contains(r.stdout, "still valid") {
		t.Errorf("obtain of the same names: %v", r)
	}
	e.requireNoNewOrder(orders, r)
	// The other commands take the name as typed too.
	if r := e.list("bücher.example.test"); r.code != ExitOK || !strings.Contains(r.stdout, puny) {
		t.Errorf("list NAME: %v", r)
	}
	if r := e.renew("bücher.example.test"); r.code != ExitOK || !strings.Contains(r.stdout, puny+": not due") {
		t.Errorf("renew NAME: %v", r)
	}
	if r := runCLI(t.Context(), "revoke", "-store", e.store, "bücher.example.test"); r.code != ExitOK {
		t.Errorf("revoke NAME: %v", r)
	}
}

// ---------------------------------------------------------------------
// 3. renew and revoke create no store.

func TestRenewRevokeMissingStoreCreateNothing(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "typo")
	for _, args := range [][]string{
		{"renew", "-store", dir},
		{"renew", "-store", dir, "a.example.test"},
		{"revoke", "-store", dir, "a.example.test"},
		{"revoke", "-store", dir, "-ca", "https://127.0.0.1:1/dir", "a.example.test"},
	} {
		r := runCLI(t.Context(), args...)
		if r.code != ExitError || !strings.Contains(r.stderr, "no store at "+dir) {
			t.Errorf("want exit 1 and \"no store at %s\"; got\n%v", dir, r)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v created %s (%v)", args, dir, err)
		}
	}
}

func TestRenewEmptyStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runCLI(t.Context(), "renew", "-store", dir)
	if r.code != ExitOK || !strings.Contains(r.stdout, "no certificates in "+dir) {
		t.Errorf("renew of an existing empty store: %v", r)
	}
}

// ---------------------------------------------------------------------
// 4. File flags.

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestObtainFileFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	ecKey := writePEM(t, dir, "ec.key", "EC PRIVATE KEY", ecDER)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakKey := writePEM(t, dir, "weak.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(weak))
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(ed)
	edKey := writePEM(t, dir, "ed.key", "PRIVATE KEY", edDER)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	p521DER, _ := x509.MarshalECPrivateKey(p521)
	p521Key := writePEM(t, dir, "p521.key", "EC PRIVATE KEY", p521DER)
	csr := writeCSR(t, dir, "csr.example.test")
	missing := filepath.Join(dir, "missing.pem")
	garbage := writeFile(t, dir, "garbage.der", "not DER", 0o600)

	for _, c := range []struct {
		args []string
		want []string // in stderr
	}{
		{[]string{"-key", missing, "a.example.test"}, []string{"-key", missing}},
		{[]string{"-key", dir, "a.example.test"}, []string{"-key", dir}}, // a directory: unreadable
		{[]string{"-key", csr, "a.example.test"}, []string{"-key", csr, "no PEM private key"}},
		{[]string{"-key", weakKey, "a.example.test"}, []string{"-key", weakKey, "1024 bits"}},
		{[]string{"-key", edKey, "a.example.test"}, []string{"-key", edKey, "Ed25519"}},
		{[]string{"-key", p521Key, "a.example.test"}, []string{"-key", p521Key, "P-521"}},
		{[]string{"-key", ecKey, "-key-type", "rsa2048", "a.example.test"}, []string{"-key-type"}},
		{[]string{"-csr", missing}, []string{"-csr", missing}},
		{[]string{"-csr", ecKey}, []string{ecKey + " is not a certificate signing request"}},
		{[]string{"-csr", garbage}, []string{garbage + " is not a certificate signing request"}},
		{[]string{"-csr", csr, "-key-type", "rsa2048"}, []string{"-key-type"}},
		{[]string{"-csr", csr, "-reuse-key"}, []string{"-reuse-key"}},
		{[]string{"-csr", csr, "-key", ecKey}, []string{"-key"}},
		{[]string{"-ca-root", missing, "a.example.test"}, []string{"-ca-root", missing}},
		{[]string{"-ca-root", dir, "a.example.test"}, []string{"-ca-root", dir}},
		{[]string{"-ca-root", ecKey, "a.example.test"}, []string{"-ca-root", ecKey, "no PEM certificate"}},
	} {
		args := append([]string{"obtain", "-ca", "https://127.0.0.1:1/dir", "-store", store, "-http-listen", "127.0.0.1:0"}, c.args...)
		r := runCLI(t.Context(), args...)
		ok := r.code == ExitUsage && !strings.Contains(r.stderr, "asn1")
		for _, w := range c.want {
			ok = ok && strings.Contains(r.stderr, w)
		}
		if !ok {
			t.Errorf("want exit 2 and %q; got\n%v", c.want, r)
		}
	}
	if _, err := os.Stat(store); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the store was created (%v)", err)
	}
	for _, args := range [][]string{
		{"revoke", "-ca-root", missing, "-store", dir, "a.example.test"},
		{"account", "register", "-ca-root", missing, "-store", dir},
		{"renew", "-ca-root", missing, "-store", dir},
	} {
		if r := runCLI(t.Context(), args...); r.code != ExitUsage || !strings.Contains(r.stderr, "-ca-root "+missing) {
			t.Errorf("want exit 2 naming -ca-root %s; got\n%v", missing, r)
		}
	}
}

// An RSA key the user brings is used, and its type recorded.
func TestObtainWithRSAKey(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := writePEM(t, t.TempDir(), "rsa.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k))
	e.mustObtain("-http-listen", e.httpAddr(), "-key", p, "rsakey.example.test")
	if kt := keyTypeOf(t, mustStoredCert(t, e.store, e.ca(), "rsakey.example.test")); kt != "rsa2048" {
		t.Errorf("key type %s", kt)
	}
	l, err := openCerts(t, e.store).LoadLineage(context.Background(), e.ca(), "rsakey.example.test")
	if err != nil || l.KeyType != "rsa2048" || !l.ReuseKey {
		t.Errorf("lineage key type %q, reuse %v (%v)", l.KeyType, l.ReuseKey, err)
	}
}

// ---------------------------------------------------------------------
// 5. Exit codes.

func TestRenewUnknownNameExit2(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "known.example.test")
	orders := e.proxy.orders()
	r := e.renew("-force", "-http-listen", e.httpAddr(), "known.example.test", "nosuch.example.test")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "the store has no certificate nosuch.example.test") {
		t.Errorf("renew of a name the store does not have: want exit 2; got\n%v", r)
	}
	e.requireNoNewOrder(orders, r)
}

func TestListRenewOtherCAAgree(t *testing.T) {
	t.Parallel()
	a := newLineageEnv(t, acmetest.PebbleOptions{})
	a.mustObtain("-http-listen", a.httpAddr(), "ca-a.example.test")
	other := "https://127.0.0.1:1/other/dir"
	want := "has no certificate from " + other
	for _, r := range []cliResult{a.list("-ca", other), a.list("-ca", other, "-json"), a.renew("-ca", other)} {
		if r.code != ExitError || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, a.ca()) {
			t.Errorf("want exit 1, %q and the CA the store has; got\n%v", want, r)
		}
	}
	// An empty store has nothing from any CA: not an error.
	empty := t.TempDir()
	for _, cmd := range []string{"list", "renew"} {
		if r := runCLI(t.Context(), cmd, "-store", empty, "-ca", other); r.code != ExitOK || !strings.Contains(r.stdout, "no certificates") {
			t.Errorf("%s -ca of an empty store: %v", cmd, r)
		}
	}
}

// ---------------------------------------------------------------------
// 6. The rescue message names the file once.

func TestRescueMessageNamesFileOnce(t *testing.T) {
	const path = "/tmp/certkeeper-rescue-a.example.test-20261130T120000Z-1.pem"
	err := fmt.Errorf("issue: %w", &manager.RescuedError{Path: path, Err: errors.New("store: disk full")})
	for _, msg := range []string{
		rescueMessage(err, "move them into place by hand, or fix the store and run obtain -force").Error(),
		rescueMessage(err, "move them into place by hand, or fix the store and run renew -force a.example.test").Error(),
	} {
		if n := strings.Count(msg, path); n != 1 {
			t.Errorf("message names the file %d times:\n%s", n, msg)
		}
	}
	if got := exitCode(rescueMessage(err, "x")); got != ExitError {
		t.Errorf("exit code %d", got)
	}
}
