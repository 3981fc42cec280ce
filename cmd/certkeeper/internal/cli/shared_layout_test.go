package cli

// End-to-end tests of the shared layout (store.LayoutShared): a directory
// that txacme, txsni and other programs share, holding "<name>.pem" (key
// then chain) and "client.key" at its top, with certkeeper's own records
// under "certkeeper/". Each runs against its own Pebble behind a counting
// proxy (lineage_helpers_test.go).
//
// They do not run in parallel: each binds Pebble's http-01 port several
// times, a port picked free once and then left unbound in between, which
// a listener of a test running meanwhile can take.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// ---------------------------------------------------------------------
// Helpers

// newSharedEnv is newLineageEnv with the store directory made, empty.
func newSharedEnv(t *testing.T) *cliEnv {
	t.Helper()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	if err := os.MkdirAll(e.store, 0o700); err != nil {
		t.Fatal(err)
	}
	return e
}

// writeAccountKey writes client.key as another program would and returns
// what it wrote: key encoded as txacme writes it (PKCS #1 "RSA PRIVATE
// KEY", txacme's RSA key) or, with pkcs8, as "PRIVATE KEY" (openssl
// genpkey, and most tools of today). No CA has seen it.
func writeAccountKey(t *testing.T, dir string, key crypto.Signer, pkcs8 bool) []byte {
	t.Helper()
	var b *pem.Block
	switch k := key.(type) {
	case *rsa.PrivateKey:
		b = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		b = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	}
	if pkcs8 {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		b = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	data := pem.EncodeToMemory(b)
	if err := os.WriteFile(filepath.Join(dir, "client.key"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

// writePlaceholders writes an empty "<name>.pem" for each name: txacme's
// request for a certificate.
func writePlaceholders(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n+".pem"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// sharedPEM is one "<name>.pem" read as txacme and txsni read it.
type sharedPEM struct {
	key  crypto.Signer
	leaf *x509.Certificate
	n    int // certificates in the chain
}

// parseSharedPEM parses the contents of a "<name>.pem": a private key
// first, then the chain, leaf first; the key must be the leaf's.
func parseSharedPEM(data []byte) (sharedPEM, error) {
	var out sharedPEM
	rest := data
	for i := 0; ; i++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case i == 0:
			if !strings.HasSuffix(b.Type, "PRIVATE KEY") {
				return out, fmt.Errorf("the first PEM block is %q, not the private key", b.Type)
			}
			k, err := keys.ParsePEM(pem.EncodeToMemory(b))
			if err != nil {
				return out, err
			}
			out.key = k
		case b.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return out, err
			}
			if out.leaf == nil {
				out.leaf = c
			}
			out.n++
		default:
			return out, fmt.Errorf("PEM block %d is %q after the key", i, b.Type)
		}
	}
	if out.key == nil || out.leaf == nil {
		return out, fmt.Errorf("no key and chain (%d bytes)", len(data))
	}
	pub, ok := out.key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(out.leaf.PublicKey) {
		return out, fmt.Errorf("the key is not the leaf's")
	}
	return out, nil
}

// mustSharedPEM reads dir/<name>.pem and checks that it holds the key,
// then a chain for name, leaf first.
func mustSharedPEM(t *testing.T, dir, name string) sharedPEM {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseSharedPEM(data)
	if err != nil {
		t.Fatalf("%s.pem: %v", name, err)
	}
	if !slices.Contains(p.leaf.DNSNames, name) {
		t.Fatalf("%s.pem is a certificate for %v", name, p.leaf.DNSNames)
	}
	if p.n < 2 {
		t.Errorf("%s.pem holds %d certificate(s): the leaf without its chain", name, p.n)
	}
	return p
}

// checkSharedTop fails the test if the top of the shared store dir holds
// anything but "<name>.pem" files, client.key, the certkeeper/ directory
// and the store's own dot-names (.locks).
func checkSharedTop(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range ents {
		n := de.Name()
		switch {
		case strings.HasPrefix(n, "."):
		case n == "client.key" && de.Type().IsRegular():
		case n == "certkeeper" && de.IsDir():
		case strings.HasSuffix(n, ".pem") && de.Type().IsRegular():
		default:
			t.Errorf("the shared store's top holds %q (%v), which other programs read and certkeeper must not write", n, de.Type())
		}
	}
}

// sharedCerts is the store at dir in the shared layout.
func sharedCerts(t *testing.T, dir string) *store.Certs {
	t.Helper()
	c := openCerts(t, dir)
	c.Layout = store.LayoutShared
	return c
}

// caAccountByKey looks up at e's CA the account whose key is in keyPEM
// (RFC 8555 §7.3.1 onlyReturnExisting); it fails the test when the CA
// knows none.
func caAccountByKey(t *testing.T, e *cliEnv, keyPEM []byte) acme.Account {
	t.Helper()
	key, err := keys.ParsePEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cl := &acme.Client{DirectoryURL: e.ca(), HTTPClient: proxyClient(t), UserAgent: "certkeeper-test"}
	acct, err := cl.LookupAccount(t.Context(), key)
	if err != nil {
		t.Fatalf("the CA knows no account with the key of client.key: %v", err)
	}
	acct.Key = key
	return acct
}

// sharedRenew runs "certkeeper renew -store DIR" then args, with the
// CA's root.
func (e *cliEnv) sharedRenew(args ...string) cliResult {
	return e.renew(append([]string{"-ca-root", e.root}, args...)...)
}

// noComplaint fails the test if the command printed a warning or an
// error.
func noComplaint(t *testing.T, r cliResult) {
	t.Helper()
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.HasPrefix(l, "certkeeper") {
			t.Errorf("the command complained: %s\n%v", l, r)
		}
	}
}

// ---------------------------------------------------------------------
// A directory prepared the txacme way.

// renew of a directory txacme prepared (client.key, an account key no CA
// has seen, and empty "<name>.pem" files) detects the shared layout,
// registers that key, obtains every name and writes each as one
// "<name>.pem", key then chain, adding nothing beside them.
func TestSharedTxacmeDirectoryRenew(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		key   crypto.Signer
		pkcs8 bool
	}{
		{"txacme RSA PKCS1", rsaKey, false},
		{"EC PKCS8", ecKey, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testSharedTxacmeDirectoryRenew(t, tc.key, tc.pkcs8)
		})
	}
}

func testSharedTxacmeDirectoryRenew(t *testing.T, key crypto.Signer, pkcs8 bool) {
	e := newSharedEnv(t)
	clientKey := writeAccountKey(t, e.store, key, pkcs8)
	names := []string{"a.example.test", "b.example.test"}
	writePlaceholders(t, e.store, names...)

	r := e.sharedRenew("-ca", e.ca(), "-agree-tos", "-http-listen", e.httpAddr())
	if r.code != ExitOK {
		t.Fatalf("renew of a txacme directory: %v", r)
	}
	noComplaint(t, r)
	for _, n := range names {
		if !strings.Contains(r.stdout, "obtained "+n) {
			t.Errorf("the output does not say %s was obtained:\n%v", n, r)
		}
		mustSharedPEM(t, e.store, n)
	}
	if n := e.proxy.orders(); n != len(names) {
		t.Errorf("%d orders placed, want %d", n, len(names))
	}
	// The account is client.key's: registered once, with that key, and
	// the file another program wrote is left as it was.
	if n := e.proxy.registrations(); n != 1 {
		t.Errorf("%d accounts registered, want 1", n)
	}
	got, err := os.ReadFile(filepath.Join(e.store, "client.key"))
	if err != nil || !bytes.Equal(got, clientKey) {
		t.Errorf("client.key changed (%v):\n%s\nwas\n%s", err, got, clientKey)
	}
	acct := caAccountByKey(t, e, clientKey)
	for _, o := range e.proxy.newOrders() {
		if o.KID != acct.URL {
			t.Errorf("an order was placed by account %q, not client.key's %q", o.KID, acct.URL)
		}
	}
	// account show finds the same account by client.key.
	show := runCLI(t.Context(), "account", "show", "-json", "-layout", "shared", "-store", e.store, "-ca", e.ca(), "-ca-root", e.root)
	var shown struct{ URL, Status string }
	if err := json.Unmarshal([]byte(show.stdout), &shown); show.code != ExitOK || err != nil || shown.URL != acct.URL || shown.Status != "valid" {
		t.Errorf("account show: want %s, valid; got %+v (%v)\n%v", acct.URL, shown, err, show)
	}
	checkSharedTop(t, e.store)
	if _, err := os.Stat(filepath.Join(e.store, "certificates")); err == nil {
		t.Errorf("the standard layout's certificates/ was written into a shared store")
	}

	// Run again: nothing is due, nothing registered, nothing complained of.
	orders, regs := e.proxy.orders(), e.proxy.registrations()
	r = e.sharedRenew("-ca", e.ca(), "-http-listen", e.httpAddr())
	if r.code != ExitOK || !strings.Contains(r.stdout, "nothing to renew") {
		t.Errorf("second renew: want exit 0 and nothing to renew; got\n%v", r)
	}
	noComplaint(t, r)
	e.requireNoNewOrder(orders, r)
	if n := e.proxy.registrations() - regs; n != 0 {
		t.Errorf("the second renew registered %d account(s)", n)
	}
	checkSharedTop(t, e.store)
}

// renew -layout shared of a directory of placeholders without client.key
// registers a new account and writes its key as client.key.
func TestSharedRenewWritesClientKey(t *testing.T) {
	e := newSharedEnv(t)
	names := []string{"a.example.test", "b.example.test"}
	writePlaceholders(t, e.store, names...)

	r := e.sharedRenew("-layout", "shared", "-ca", e.ca(), "-agree-tos", "-http-listen", e.httpAddr())
	if r.code != ExitOK {
		t.Fatalf("renew -layout shared: %v", r)
	}
	for _, n := range names {
		mustSharedPEM(t, e.store, n)
	}
	clientKey, err := os.ReadFile(filepath.Join(e.store, "client.key"))
	if err != nil {
		t.Fatalf("no client.key written: %v", err)
	}
	if n := e.proxy.registrations(); n != 1 {
		t.Errorf("%d accounts registered, want 1", n)
	}
	acct := caAccountByKey(t, e, clientKey)
	for _, o := range e.proxy.newOrders() {
		if o.KID != acct.URL {
			t.Errorf("an order was placed by account %q, not client.key's %q", o.KID, acct.URL)
		}
	}
	checkSharedTop(t, e.store)

	// Without -layout now: client.key says it is shared.
	orders := e.proxy.ordersPlaced()
	r = e.sharedRenew("-force", "-ca", e.ca(), "-http-listen", e.httpAddr(), names[0])
	if r.code != ExitOK {
		t.Fatalf("renew -force of a detected shared store: %v", r)
	}
	if n := e.proxy.ordersPlaced() - orders; n != 1 {
		t.Errorf("renew -force %s placed %d orders, want 1", names[0], n)
	}
	if n := e.proxy.registrations(); n != 1 {
		t.Errorf("%d accounts registered in all, want 1", n)
	}
	checkSharedTop(t, e.store)
}

// ---------------------------------------------------------------------
// obtain, then renew as recorded

// obtain -layout shared records the lineage under certkeeper/; renew
// -force -store DIR (layout detected, no CA given) renews as recorded,
// and every renewal replaces "<name>.pem" atomically: a reader reading it
// in a loop always finds the leaf's key with it.
func TestSharedObtainThenRenewAsRecorded(t *testing.T) {
	e := newSharedEnv(t)
	const name = "rec.example.test"
	e.mustObtain("-layout", "shared", "-key-type", "rsa2048", "-http-listen", e.httpAddr(), name)
	first := mustSharedPEM(t, e.store, name)
	if _, err := os.Stat(filepath.Join(e.store, "certkeeper", "lineage", name+".json")); err != nil {
		t.Errorf("no lineage record in certkeeper/lineage: %v", err)
	}
	l, err := sharedCerts(t, e.store).LoadLineage(t.Context(), e.ca(), name)
	if err != nil {
		t.Fatalf("lineage record: %v", err)
	}
	if l.CA != e.ca() || l.KeyType != "rsa2048" || !strings.Contains(string(l.Solvers), e.httpAddr()) {
		t.Errorf("lineage record: %+v", l)
	}
	if _, err := os.Stat(filepath.Join(e.store, "client.key")); err != nil {
		t.Fatalf("obtain -layout shared wrote no client.key: %v", err)
	}
	checkSharedTop(t, e.store)

	// A reader of <name>.pem, as txsni reads it, all along.
	var (
		stop     atomic.Bool
		reads    atomic.Int64
		badMu    sync.Mutex
		bad      []string
		readerWG sync.WaitGroup
	)
	readerWG.Go(func() {
		p := filepath.Join(e.store, name+".pem")
		for !stop.Load() {
			data, err := os.ReadFile(p)
			if err == nil {
				_, err = parseSharedPEM(data)
			}
			reads.Add(1)
			if err != nil {
				badMu.Lock()
				bad = append(bad, err.Error())
				badMu.Unlock()
			}
		}
	})

	serial := first.leaf.SerialNumber
	orders := e.proxy.ordersPlaced()
	const renewals = 3
	for i := range renewals {
		r := runCLI(t.Context(), "renew", "-force", "-store", e.store, "-http-listen", e.httpAddr())
		if r.code != ExitOK {
			stop.Store(true)
			readerWG.Wait()
			t.Fatalf("renewal %d: renew -force -store DIR -http-listen: %v", i+1, r)
		}
		p := mustSharedPEM(t, e.store, name)
		if p.leaf.SerialNumber.Cmp(serial) == 0 {
			t.Errorf("renewal %d: <name>.pem not replaced", i+1)
		}
		serial = p.leaf.SerialNumber
		if kt := keyTypeOfSigner(p.key); kt != "rsa2048" {
			t.Errorf("renewal %d made a %s key, want rsa2048 as recorded", i+1, kt)
		}
	}
	stop.Store(true)
	readerWG.Wait()
	if n := e.proxy.ordersPlaced() - orders; n != renewals {
		t.Errorf("%d renewals placed %d orders", renewals, n)
	}
	if reads.Load() < renewals {
		t.Errorf("the reader read %s.pem %d times during %d renewals: proves nothing", name, reads.Load(), renewals)
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d reads of %s.pem during renewals found no matching key and chain; first: %s", len(bad), reads.Load(), name, bad[0])
	}
	if n := e.proxy.registrations(); n != 1 {
		t.Errorf("%d accounts registered, want 1", n)
	}
	checkSharedTop(t, e.store)
}

// keyTypeOfSigner names a key's type as keys.TypeOf does.
func keyTypeOfSigner(k crypto.Signer) string {
	kt, err := keys.TypeOf(k.Public())
	if err != nil {
		return err.Error()
	}
	return string(kt)
}

// ---------------------------------------------------------------------
// One account

// A shared store holds one account, client.key: an -email other than its
// contact updates the contact at the CA, with obtain (layout detected),
// renew, account register and account update, and none complains,
// registers another account or writes another layout's files.
func TestSharedSecondEmailUpdatesContact(t *testing.T) {
	e := newSharedEnv(t)
	e.mustObtain("-layout", "shared", "-http-listen", e.httpAddr(), "one.example.test")
	clientKey, err := os.ReadFile(filepath.Join(e.store, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	acct := caAccountByKey(t, e, clientKey)
	if !slices.Equal(acct.Contact, []string{"mailto:" + e.email}) {
		t.Fatalf("the account's contact is %v, want %s", acct.Contact, e.email)
	}

	// obtain, the layout detected, with another email.
	r := runCLI(t.Context(), "obtain", "-ca", e.ca(), "-ca-root", e.root, "-store", e.store,
		"-email", "x@example.test", "-agree-tos", "-http-listen", e.httpAddr(), "two.example.test")
	if r.code != ExitOK {
		t.Fatalf("obtain -email x@example.test on a shared store: %v", r)
	}
	noComplaint(t, r)
	mustSharedPEM(t, e.store, "two.example.test")
	if got := caAccountByKey(t, e, clientKey); got.URL != acct.URL || !slices.Equal(got.Contact, []string{"mailto:x@example.test"}) {
		t.Errorf("after obtain -email x@example.test the account %s has contact %v, want mailto:x@example.test (account %s)", got.URL, got.Contact, acct.URL)
	}
	l, err := sharedCerts(t, e.store).LoadLineage(t.Context(), e.ca(), "two.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if l.Account != "" && l.Account != "default" {
		t.Errorf("the lineage names account %q; the shared layout holds one, \"default\"", l.Account)
	}

	// renew with a third email: the contact follows it.
	r = runCLI(t.Context(), "renew", "-force", "-store", e.store, "-email", "y@example.test", "-http-listen", e.httpAddr())
	if r.code != ExitOK {
		t.Fatalf("renew -email y@example.test on a shared store: %v", r)
	}
	noComplaint(t, r)
	if got := caAccountByKey(t, e, clientKey); got.URL != acct.URL || !slices.Equal(got.Contact, []string{"mailto:y@example.test"}) {
		t.Errorf("after renew -email y@example.test the account %s has contact %v, want mailto:y@example.test", got.URL, got.Contact)
	}

	// The account commands, the layout detected, likewise.
	for _, tc := range []struct{ sub, email string }{{"register", "z@example.test"}, {"update", "w@example.test"}} {
		r = runCLI(t.Context(), "account", tc.sub, "-store", e.store, "-ca", e.ca(), "-ca-root", e.root, "-email", tc.email, "-agree-tos")
		if r.code != ExitOK {
			t.Fatalf("account %s -email %s on a shared store: %v", tc.sub, tc.email, r)
		}
		noComplaint(t, r)
		if got := caAccountByKey(t, e, clientKey); got.URL != acct.URL || !slices.Equal(got.Contact, []string{"mailto:" + tc.email}) {
			t.Errorf("after account %s -email %s the account %s has contact %v", tc.sub, tc.email, got.URL, got.Contact)
		}
	}
	show := runCLI(t.Context(), "account", "show", "-json", "-store", e.store, "-ca", e.ca(), "-ca-root", e.root)
	var shown struct {
		URL     string
		Contact []string
	}
	if err := json.Unmarshal([]byte(show.stdout), &shown); show.code != ExitOK || err != nil || shown.URL != acct.URL || !slices.Equal(shown.Contact, []string{"mailto:w@example.test"}) {
		t.Errorf("account show: want %s with contact w@example.test; got %+v (%v)\n%v", acct.URL, shown, err, show)
	}

	if n := e.proxy.registrations(); n != 1 {
		t.Errorf("%d accounts registered, want 1", n)
	}
	after, err := os.ReadFile(filepath.Join(e.store, "client.key"))
	if err != nil || !bytes.Equal(after, clientKey) {
		t.Errorf("client.key changed (%v)", err)
	}
	checkSharedTop(t, e.store)
}

// ---------------------------------------------------------------------
// list

// sharedListEntry is what TestSharedList reads of "list -json".
type sharedListEntry struct {
	Name    string `json:"name"`
	CA      string `json:"ca"`
	Status  string `json:"status"`
	Lineage bool   `json:"lineage"`
	Serial  string `json:"serial"`
}

// list -store DIR of a shared store (layout detected) shows the empty
// "<name>.pem" files as wanted but not obtained ("missing"), and the
// certificates held, with a lineage record or without.
func TestSharedList(t *testing.T) {
	e := newSharedEnv(t)
	e.mustObtain("-layout", "shared", "-http-listen", e.httpAddr(), "got.example.test")
	writePlaceholders(t, e.store, "wanted.example.test")
	list := func(args ...string) map[string]sharedListEntry {
		t.Helper()
		r := e.list(append([]string{"-json"}, args...)...)
		if r.code != ExitOK {
			t.Fatalf("%v", r)
		}
		var entries []sharedListEntry
		if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
			t.Fatalf("list -json: %v\n%v", err, r)
		}
		out := map[string]sharedListEntry{}
		for _, en := range entries {
			if _, dup := out[en.Name]; dup {
				t.Errorf("list shows %s twice:\n%v", en.Name, r)
			}
			out[en.Name] = en
		}
		if len(out) != 2 {
			t.Errorf("list shows %d certificates, want 2:\n%v", len(out), r)
		}
		return out
	}

	got := list()
	if en := got["got.example.test"]; en.Status != "valid" || !en.Lineage || en.CA != e.ca() || en.Serial == "" {
		t.Errorf("the certificate obtained: %+v, want valid, with its lineage, from %s", en, e.ca())
	}
	if en := got["wanted.example.test"]; en.Status != "missing" || en.Lineage || en.Serial != "" {
		t.Errorf("the empty wanted.example.test.pem: %+v, want missing, without lineage", en)
	}
	if r := e.list(); r.code != ExitOK || !strings.Contains(r.stdout, "wanted.example.test") || !strings.Contains(r.stdout, "missing") {
		t.Errorf("list (table) does not show wanted.example.test missing:\n%v", r)
	}

	// Obtained by renew at -ca, it is held (without a lineage record).
	if r := e.sharedRenew("-ca", e.ca(), "-http-listen", e.httpAddr()); r.code != ExitOK {
		t.Fatalf("renew: %v", r)
	}
	got = list("-ca", e.ca())
	if en := got["wanted.example.test"]; en.Status != "valid" || en.CA != e.ca() || en.Serial == "" {
		t.Errorf("wanted.example.test after renew: %+v, want valid from %s", en, e.ca())
	}
	if en := got["got.example.test"]; en.Status != "valid" || !en.Lineage {
		t.Errorf("got.example.test after renew: %+v", en)
	}
}

// ---------------------------------------------------------------------
// A CA that forgot the account

// The shared layout keeps no account URL, so a CA that forgot the account
// (a reset) and one that never saw client.key look the same: registering
// the key again needs -agree-tos, says so before any order, and then
// registers that same key.
func TestSharedCAResetNeedsAgreeTOS(t *testing.T) {
	e := newSharedEnv(t)
	const name = "reset.example.test"
	e.mustObtain("-layout", "shared", "-http-listen", e.httpAddr(), name)
	clientKey, err := os.ReadFile(filepath.Join(e.store, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	serial := mustSharedPEM(t, e.store, name).leaf.SerialNumber
	e.resetCA()
	orders, regs := e.proxy.orders(), e.proxy.registrations()

	r := e.renew("-force", "-http-listen", e.httpAddr())
	if r.code != ExitPartial || !strings.Contains(r.stderr, "terms of service") {
		t.Errorf("renew after a CA reset without -agree-tos: want exit %d naming the terms of service; got\n%v", ExitPartial, r)
	}
	e.requireNoNewOrder(orders, r)
	if n := e.proxy.registrations() - regs; n != 0 {
		t.Errorf("%d accounts registered without -agree-tos", n)
	}

	r = e.renew("-force", "-agree-tos", "-http-listen", e.httpAddr())
	if r.code != ExitOK {
		t.Fatalf("renew -agree-tos after a CA reset: %v", r)
	}
	if n := e.proxy.registrations() - regs; n != 1 {
		t.Errorf("%d accounts registered, want 1", n)
	}
	caAccountByKey(t, e, clientKey)
	if after, _ := os.ReadFile(filepath.Join(e.store, "client.key")); !bytes.Equal(after, clientKey) {
		t.Errorf("client.key changed")
	}
	if mustSharedPEM(t, e.store, name).leaf.SerialNumber.Cmp(serial) == 0 {
		t.Errorf("not renewed")
	}
}

// ---------------------------------------------------------------------
// Detected from certkeeper's records

// An obtain -layout shared whose account could not be registered (no
// -agree-tos) leaves nothing behind: no client.key, no lineage record that
// a later renew would take for a wish, nothing beside the .pem files.
func TestSharedFailedFirstObtainLeavesNothing(t *testing.T) {
	e := newSharedEnv(t)
	const name = "norecord.example.test"
	r := runCLI(t.Context(), "obtain", "-layout", "shared", "-ca", e.ca(), "-ca-root", e.root, "-store", e.store,
		"-http-listen", e.httpAddr(), name)
	if r.code == ExitOK || !strings.Contains(r.stderr, "terms of service") {
		t.Fatalf("obtain without -agree-tos: want a failure naming the terms of service; got\n%v", r)
	}
	if _, err := os.Stat(filepath.Join(e.store, "client.key")); err == nil {
		t.Fatalf("client.key written though no account was registered")
	}

	// A first obtain that failed leaves nothing behind: no record that
	// renew would take for a wish, nothing at the top of the directory.
	r = e.renew("-force", "-agree-tos")
	if r.code != ExitOK || strings.Contains(r.stdout, name) {
		t.Fatalf("renew after a failed first obtain: want nothing to do; got\n%v", r)
	}
	checkSharedTop(t, e.store)
}

// ---------------------------------------------------------------------
// Two runs at once

// Two renews at once of a txacme directory (two cron jobs, say): one
// account registered with client.key, one order, both succeed. One name:
// two processes ordering two names at once, each binding the same
// -http-listen port, collide on the port (in any layout).
func TestSharedConcurrentRenew(t *testing.T) {
	e := newSharedEnv(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	clientKey := writeAccountKey(t, e.store, key, false)
	names := []string{"c1.example.test"}
	writePlaceholders(t, e.store, names...)
	var wg sync.WaitGroup
	results := make([]cliResult, 2)
	for i := range results {
		wg.Go(func() { results[i] = e.sharedRenew("-ca", e.ca(), "-agree-tos", "-http-listen", e.httpAddr()) })
	}
	wg.Wait()
	for _, r := range results {
		if r.code != ExitOK {
			t.Errorf("concurrent renew: %v", r)
		}
	}
	if n := e.proxy.registrations(); n != 1 {
		t.Errorf("%d accounts registered, want 1", n)
	}
	if n := e.proxy.orders(); n != len(names) {
		t.Errorf("%d orders placed, want %d:\n%v\n%v", n, len(names), results[0], results[1])
	}
	for _, n := range names {
		mustSharedPEM(t, e.store, n)
	}
	caAccountByKey(t, e, clientKey)
	checkSharedTop(t, e.store)
}
