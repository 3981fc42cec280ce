package cli

// Helpers of the end-to-end tests of lineage_test.go and
// daemon_lineage_test.go: a counting ACME reverse proxy in front of
// Pebble, a command runner, and readers of the store that go through
// package store (the on-disk layout is not these tests' business).

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/solver/http01"
	"github.com/certkeeper/certkeeper/store"
)

// ---------------------------------------------------------------------
// The proxies' TLS certificate.

var (
	proxyCertOnce sync.Once
	proxyCert     tls.Certificate
	proxyCertPEM  []byte
	proxyCertErr  error
)

// proxyTLS returns the self-signed certificate every test proxy serves
// (valid for 127.0.0.1, ::1 and localhost) and its PEM, which the tests
// give the command as -ca-root.
func proxyTLS(t testing.TB) (tls.Certificate, []byte) {
	t.Helper()
	proxyCertOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			proxyCertErr = err
			return
		}
		now := time.Now()
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(now.UnixNano()),
			Subject:               pkix.Name{CommonName: "certkeeper test ACME proxy"},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
			DNSNames:              []string{"localhost"},
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			proxyCertErr = err
			return
		}
		proxyCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		proxyCertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	})
	if proxyCertErr != nil {
		t.Fatal(proxyCertErr)
	}
	return proxyCert, proxyCertPEM
}

// proxyClient is an HTTP client that trusts the proxies.
func proxyClient(t testing.TB) *http.Client {
	_, pemData := proxyTLS(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	tr.Proxy = nil
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// writeProxyRoot writes the proxies' certificate to dir/ca-root.pem.
func writeProxyRoot(t testing.TB, dir string) string {
	t.Helper()
	_, pemData := proxyTLS(t)
	p := writeFile(t, dir, "ca-root.pem", string(pemData), 0o644)
	return p
}

// ---------------------------------------------------------------------
// acmeProxy: a reverse proxy in front of one Pebble that counts requests.

// proxiedPost is one POST that went through an acmeProxy.
type proxiedPost struct {
	Path   string
	KID    string // the JWS "kid" (account URL), "" for a "jwk" request
	Status int    // the upstream's status; 0 if it was not reached
}

// acmeProxy is an HTTPS reverse proxy in front of a Pebble. It forwards
// the client's Host, so Pebble builds its URLs (and checks the JWS "url")
// with the proxy's origin, and it also rewrites the upstream origin in
// bodies and Location/Link headers. Its upstream can be switched to
// another Pebble (a CA reset) while it runs. It counts the POSTs to
// Pebble's newOrder and newAccount resources: Pebble itself has no such
// counter.
type acmeProxy struct {
	t   testing.TB
	srv *httptest.Server
	// URL is the directory URL through the proxy.
	URL    string
	origin string // https://127.0.0.1:port

	mu             sync.Mutex
	upstream       *acmetest.Pebble
	client         *http.Client
	newOrderPath   string
	newAccountPath string
	posts          []proxiedPost
	hook           proxyHook
}

// proxyHook, set on an acmeProxy with setHook, is called with each
// request before it is forwarded (answered false) and again once the CA
// has answered it, before the answer goes back (answered true). It may
// block to hold the request at that point.
type proxyHook func(r *http.Request, body []byte, answered bool)

// setHook makes h the proxy's hook from now on (nil for none).
func (x *acmeProxy) setHook(h proxyHook) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.hook = h
}

// startACMEProxy starts a proxy in front of p listening on addr
// ("127.0.0.1:0" for any port). It is closed when t ends.
func startACMEProxy(t testing.TB, p *acmetest.Pebble, addr string) *acmeProxy {
	t.Helper()
	cert, _ := proxyTLS(t)
	x := &acmeProxy{t: t}
	x.setUpstream(p)
	srv := httptest.NewUnstartedServer(x)
	ln, err := listenRetry(addr)
	if err != nil {
		t.Fatalf("proxy: listen on %s: %v", addr, err)
	}
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	// Set before the server starts: ServeHTTP reads them, and a client
	// (a daemon retrying) may connect at once.
	x.srv = srv
	x.origin = "https://" + ln.Addr().String()
	u, _ := url.Parse(p.DirectoryURL)
	x.URL = x.origin + u.Path
	srv.StartTLS()
	t.Cleanup(x.Close)
	return x
}

// listenRetry listens on addr, retrying for a few seconds when a fixed
// port is still held by a socket being closed.
func listenRetry(addr string) (net.Listener, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) || strings.HasSuffix(addr, ":0") {
			return ln, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Close stops the proxy; later connections to its address are refused.
func (x *acmeProxy) Close() {
	x.srv.CloseClientConnections()
	x.srv.Close()
}

// Addr is the proxy's host:port.
func (x *acmeProxy) Addr() string { return strings.TrimPrefix(x.origin, "https://") }

// setUpstream makes p the CA behind the proxy from now on.
func (x *acmeProxy) setUpstream(p *acmetest.Pebble) {
	x.t.Helper()
	client := p.HTTPClient()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(p.DirectoryURL)
	if err != nil {
		x.t.Fatalf("proxy: upstream directory: %v", err)
	}
	defer resp.Body.Close()
	var dir struct{ NewOrder, NewAccount string }
	if err := json.NewDecoder(resp.Body).Decode(&dir); err != nil || dir.NewOrder == "" || dir.NewAccount == "" {
		x.t.Fatalf("proxy: upstream directory: %+v %v", dir, err)
	}
	no, _ := url.Parse(dir.NewOrder)
	na, _ := url.Parse(dir.NewAccount)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.upstream, x.client = p, client
	x.newOrderPath, x.newAccountPath = no.Path, na.Path
}

func (x *acmeProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x.mu.Lock()
	up, client, hook := x.upstream, x.client, x.hook
	x.mu.Unlock()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if hook != nil {
		hook(r, body, false)
	}
	u, _ := url.Parse(up.DirectoryURL)
	upOrigin := "https://" + u.Host
	rec := proxiedPost{Path: r.URL.Path, KID: jwsKID(body)}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, upOrigin+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, vs := range r.Header {
		if !hopByHopHeader(k) {
			out.Header[k] = vs
		}
	}
	out.Host = r.Host
	resp, err := client.Do(out)
	if err != nil {
		x.record(r, rec)
		http.Error(w, "test proxy: upstream: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		x.record(r, rec)
		http.Error(w, "test proxy: upstream: "+err.Error(), http.StatusBadGateway)
		return
	}
	rec.Status = resp.StatusCode
	x.record(r, rec)
	if hook != nil {
		hook(r, body, true)
	}
	respBody = bytes.ReplaceAll(respBody, []byte(upOrigin), []byte(x.origin))
	for k, vs := range resp.Header {
		if hopByHopHeader(k) || k == "Content-Length" {
			continue
		}
		for _, v := range vs {
			if k == "Location" || k == "Link" {
				v = strings.ReplaceAll(v, upOrigin, x.origin)
			}
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(respBody)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

func (x *acmeProxy) record(r *http.Request, rec proxiedPost) {
	if r.Method != http.MethodPost {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.posts = append(x.posts, rec)
}

func hopByHopHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// jwsKID returns the "kid" of the protected header of a flattened JWS.
func jwsKID(body []byte) string {
	var jws struct{ Protected string }
	if json.Unmarshal(body, &jws) != nil {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(jws.Protected)
	if err != nil {
		return ""
	}
	var h struct{ KID string }
	_ = json.Unmarshal(raw, &h)
	return h.KID
}

// newOrders returns the POSTs to newOrder so far (whatever their outcome).
func (x *acmeProxy) newOrders() []proxiedPost {
	return x.postsTo(func(x *acmeProxy) string { return x.newOrderPath })
}

// orders counts the POSTs to newOrder so far.
func (x *acmeProxy) orders() int { return len(x.newOrders()) }

// ordersPlaced counts the newOrder POSTs that created an order (201
// Created, RFC 8555 §7.4): a newOrder the CA refused places none (Pebble
// answers 500 to one whose replaces names a certificate with a serial of
// a leading zero byte, and certkeeper then orders without replaces).
func (x *acmeProxy) ordersPlaced() int { return len(x.createdOrders()) }

// createdOrders are the newOrder POSTs that created an order (see
// ordersPlaced).
func (x *acmeProxy) createdOrders() []proxiedPost {
	var created []proxiedPost
	for _, p := range x.newOrders() {
		if p.Status == http.StatusCreated {
			created = append(created, p)
		}
	}
	return created
}

// accountRequests counts the POSTs to newAccount so far (registrations
// and look-ups alike).
func (x *acmeProxy) accountRequests() int {
	return len(x.postsTo(func(x *acmeProxy) string { return x.newAccountPath }))
}

// registrations counts the newAccount POSTs that created an account
// (201 Created, RFC 8555 §7.3).
func (x *acmeProxy) registrations() int {
	n := 0
	for _, p := range x.postsTo(func(x *acmeProxy) string { return x.newAccountPath }) {
		if p.Status == http.StatusCreated {
			n++
		}
	}
	return n
}

func (x *acmeProxy) postsTo(path func(*acmeProxy) string) []proxiedPost {
	x.mu.Lock()
	defer x.mu.Unlock()
	want := path(x)
	var out []proxiedPost
	for _, p := range x.posts {
		if p.Path == want {
			out = append(out, p)
		}
	}
	return out
}

// ---------------------------------------------------------------------
// Two directories on one host:port.

// startDirectoryFront serves, on one host:port, GET /<route>/directory
// for each route as the directory of the CA behind proxies[route]. Only
// the directories are on the shared host:port: their resource URLs
// (newNonce, newAccount, newOrder…) stay those of each CA's own proxy,
// since Pebble checks each JWS "url" against Host and request path and a
// path prefix added by a proxy can never match. It returns the directory
// URL of each route.
func startDirectoryFront(t testing.TB, proxies map[string]*acmeProxy) map[string]string {
	t.Helper()
	cert, _ := proxyTLS(t)
	client := proxyClient(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		x := proxies[route]
		if x == nil || rest != "directory" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		resp, err := client.Get(x.URL)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	urls := map[string]string{}
	for route := range proxies {
		urls[route] = srv.URL + "/" + route + "/directory"
	}
	return urls
}

// ---------------------------------------------------------------------
// Reading the store.

// openCerts opens the store at dir for reading. It fails the test
// rather than create the directory.
func openCerts(t testing.TB, dir string) *store.Certs {
	t.Helper()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("store %s: %v", dir, err)
	}
	d, err := store.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &store.Certs{Store: d}
}

// storedCerts lists the certificates of every CA in the store.
func storedCerts(t testing.TB, dir string) []store.CertRecord {
	t.Helper()
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	all, err := openCerts(t, dir).ListCertificates(context.Background(), "")
	if err != nil {
		t.Logf("store %s: %v", dir, err)
	}
	return all
}

// storedCert returns the certificate called name from the CA with
// directory URL ca ("" for any CA), or nil if there is none.
func storedCert(t testing.TB, dir, ca, name string) *store.CertRecord {
	t.Helper()
	var found *store.CertRecord
	for _, r := range storedCerts(t, dir) {
		if r.Name == name && (ca == "" || r.CA == ca) {
			if found != nil {
				t.Fatalf("store %s holds %q from %s and %s: give the CA", dir, name, found.CA, r.CA)
			}
			found = &r
		}
	}
	return found
}

// mustStoredCert is storedCert that fails the test when there is none.
func mustStoredCert(t testing.TB, dir, ca, name string) *store.CertRecord {
	t.Helper()
	r := storedCert(t, dir, ca, name)
	if r == nil {
		t.Fatalf("no certificate %q from %q in store %s (it holds %v)", name, ca, dir, storedNames(t, dir))
	}
	return r
}

func storedNames(t testing.TB, dir string) []string {
	var names []string
	for _, r := range storedCerts(t, dir) {
		names = append(names, r.Name+"@"+r.CA)
	}
	return names
}

// leafOfRecord is the leaf certificate of r.
func leafOfRecord(t testing.TB, r *store.CertRecord) *x509.Certificate {
	t.Helper()
	if len(r.Certificates) > 0 {
		return r.Certificates[0]
	}
	chain, err := keys.ParseCertificates(r.ChainPEM)
	if err != nil {
		t.Fatalf("certificate %q: %v", r.Name, err)
	}
	return chain[0]
}

// serialOf is the serial number of the stored certificate name, in hex,
// or "" if there is none.
func serialOf(t testing.TB, dir, ca, name string) string {
	t.Helper()
	r := storedCert(t, dir, ca, name)
	if r == nil {
		return ""
	}
	return leafOfRecord(t, r).SerialNumber.Text(16)
}

// keyTypeOf names the type of the stored certificate's private key and
// of its leaf's public key: "rsa2048", "ec256", "ec384"…
func keyTypeOf(t testing.TB, r *store.CertRecord) string {
	t.Helper()
	describe := func(pub any) string {
		switch k := pub.(type) {
		case *rsa.PublicKey:
			return fmt.Sprintf("rsa%d", k.N.BitLen())
		case *ecdsa.PublicKey:
			return fmt.Sprintf("ec%d", k.Curve.Params().BitSize)
		}
		return fmt.Sprintf("%T", pub)
	}
	leaf := describe(leafOfRecord(t, r).PublicKey)
	key := r.Key
	if key == nil && len(r.KeyPEM) > 0 {
		var err error
		if key, err = keys.ParsePEM(r.KeyPEM); err != nil {
			t.Fatalf("key of %q: %v", r.Name, err)
		}
	}
	if key == nil {
		t.Fatalf("no private key stored for %q", r.Name)
	}
	if k := describe(key.Public()); k != leaf {
		t.Fatalf("stored key of %q is %s, its leaf's is %s", r.Name, k, leaf)
	}
	return leaf
}

// accountURLs are the URLs of the accounts at ca ("" for every CA)
// kept in the store.
func accountURLs(t testing.TB, dir, ca string) []string {
	t.Helper()
	recs, err := openCerts(t, dir).ListAccounts(context.Background(), ca)
	if err != nil {
		t.Logf("accounts in %s: %v", dir, err)
	}
	var urls []string
	for _, r := range recs {
		urls = append(urls, r.URL)
	}
	return urls
}

// ---------------------------------------------------------------------
// Deploy hooks.

// deployHook writes a hook program that records each run: the number of
// its arguments in DIR/runs (one line per run) and its CERTKEEPER_*
// environment in DIR/last.env.
type deployHook struct {
	path string
	dir  string
}

func newDeployHook(t testing.TB) *deployHook {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "deploy-hook")
	script := fmt.Sprintf("#!/bin/sh\nenv | grep '^CERTKEEPER_' | sort > %[1]q/env.tmp && mv %[1]q/env.tmp %[1]q/last.env\necho \"$#\" >> %[1]q/runs\n", dir)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &deployHook{path: path, dir: dir}
}

// runs returns the argument count of each run so far.
func (h *deployHook) runs() []string {
	data, err := os.ReadFile(filepath.Join(h.dir, "runs"))
	if err != nil {
		return nil
	}
	return strings.Fields(string(data))
}

func (h *deployHook) lastEnv(t *testing.T) map[string]string {
	t.Helper()
	return readEnvFile(t, filepath.Join(h.dir, "last.env"))
}

// ---------------------------------------------------------------------
// Stores that cannot be written.

// makeUnwritable makes every directory and file under path immutable
// (chattr +i), so that even root cannot write there, until the test
// ends. Without chattr (or on a file system without the attribute) it
// falls back to chmod, which binds users other than root.
func makeUnwritable(t testing.TB, path string) {
	t.Helper()
	// Directories only: an immutable directory lets no entry be created,
	// renamed or removed in it, and chattr cannot flag symbolic links.
	var dirs []string
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if out, err := exec.Command("chattr", append([]string{"+i"}, dirs...)...).CombinedOutput(); err == nil {
		t.Cleanup(func() {
			if out, err := exec.Command("chattr", append([]string{"-i"}, dirs...)...).CombinedOutput(); err != nil {
				t.Errorf("chattr -i %s: %v %s", path, err, out)
			}
		})
		return
	} else if os.Getuid() == 0 {
		t.Fatalf("cannot make %s unwritable for root: chattr +i: %v %s", path, err, out)
	}
	var paths []string
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			paths = append(paths, p)
		}
		return nil
	})
	for i := len(paths) - 1; i >= 0; i-- {
		fi, err := os.Stat(paths[i])
		if err != nil {
			continue
		}
		mode := fi.Mode().Perm() &^ 0o222
		if err := os.Chmod(paths[i], mode); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(paths[i], fi.Mode().Perm()) })
	}
}

// ---------------------------------------------------------------------
// Stores written by the previous version.

// writeLegacyStore obtains a certificate for names from e's CA with the
// library alone and writes it, with its account, in the layout the
// previous version of the command wrote (no lineage record):
//
//	certificates/<host-port>/<name>/{key.pem,cert.pem,meta.json}
//	accounts/<host-port>/<email>/{account.key,account.json}
//
// It returns the account URL.
func writeLegacyStore(t testing.TB, e *cliEnv, names ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := &acme.Client{DirectoryURL: e.ca(), HTTPClient: proxyClient(t), UserAgent: "certkeeper-test"}
	acctKey, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := cl.NewAccount(ctx, acme.Account{Key: acctKey, Contact: []string{"mailto:" + e.email}, TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := issue.ParseIdentifiers(names...)
	if err != nil {
		t.Fatal(err)
	}
	is := &issue.Issuer{Client: cl, Account: acct, Solvers: map[acme.ChallengeType]challenge.Solver{
		acme.ChallengeHTTP01: &http01.Standalone{Addr: e.httpAddr()},
	}}
	cert, err := is.Obtain(ctx, issue.Request{Identifiers: ids, KeyType: keys.EC256})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(e.ca())
	caDir := strings.ReplaceAll(u.Host, ":", "-") // 127.0.0.1:PORT → 127.0.0.1-PORT
	keyPEM, err := keys.MarshalPEM(cert.Key)
	if err != nil {
		t.Fatal(err)
	}
	acctKeyPEM, err := keys.MarshalPEM(acctKey)
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := json.MarshalIndent(map[string]any{
		"name": names[0], "identifiers": names, "ca": e.ca(),
		"cert_url": cert.Chain.URL, "obtained_at": time.Now().UTC(),
	}, "", "  ")
	acctMeta, _ := json.MarshalIndent(map[string]any{
		"ca": e.ca(), "url": acct.URL, "contact": acct.Contact,
	}, "", "  ")
	certDir := filepath.Join(e.store, "certificates", caDir, names[0])
	acctDir := filepath.Join(e.store, "accounts", caDir, e.email)
	for p, data := range map[string][]byte{
		filepath.Join(certDir, "key.pem"):      keyPEM,
		filepath.Join(certDir, "cert.pem"):     cert.Chain.PEM,
		filepath.Join(certDir, "meta.json"):    append(meta, '\n'),
		filepath.Join(acctDir, "account.key"):  acctKeyPEM,
		filepath.Join(acctDir, "account.json"): append(acctMeta, '\n'),
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return acct.URL
}

// ---------------------------------------------------------------------
// Certificate signing requests.

// writeCSR writes a PEM CSR for names (a new EC P-256 key) to dir.
func writeCSR(t testing.TB, dir string, names ...string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, dir, "req.csr", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), 0o644)
	return p
}
