package autotls_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/autotls"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
)

// pebbleEnv is a Pebble, an account, a manager over a memory store and an
// autotls server on Pebble's validation ports.
type pebbleEnv struct {
	t       *testing.T
	pebble  *acmetest.Pebble
	issuer  *issue.Issuer
	manager *manager.Manager
	cfg     *autotls.Config
	orders  atomic.Int64 // newOrder requests
	https   string       // 127.0.0.1:TLSPort
	http    string       // 127.0.0.1:HTTPPort
}

func newPebbleEnv(t *testing.T, configure func(*autotls.Config)) *pebbleEnv {
	t.Helper()
	p := acmetest.NewTestPebble(t, acmetest.PebbleOptions{})
	e := &pebbleEnv{t: t, pebble: p,
		https: fmt.Sprintf("127.0.0.1:%d", p.TLSPort),
		http:  fmt.Sprintf("127.0.0.1:%d", p.HTTPPort),
	}
	client := &acme.Client{DirectoryURL: p.DirectoryURL, HTTPClient: p.HTTPClient(), OnRequest: func(ri acme.RequestInfo) {
		if ri.Endpoint == "newOrder" {
			e.orders.Add(1)
		}
	}}
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	acct, err := client.NewAccount(ctx, acme.Account{Key: key, TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	e.issuer = &issue.Issuer{Client: client, Account: acct}
	e.manager, err = manager.New(manager.Config{Store: store.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = &autotls.Config{
		Manager:   e.manager,
		Issuer:    e.issuer,
		HTTPSAddr: e.https,
		HTTPAddr:  e.http,
	}
	if configure != nil {
		configure(e.cfg)
	}
	srvCtx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- autotls.ListenAndServe(srvCtx, e.cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello %s", r.Host)
		}))
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	})
	waitListening(t, e.https)
	return e
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// handshake connects with a real crypto/tls client that verifies the chain
// up to Pebble's roots.
func (e *pebbleEnv) handshake(ctx context.Context, name string) (*x509.Certificate, error) {
	d := tls.Dialer{Config: &tls.Config{ServerName: name, RootCAs: e.pebble.Roots(), NextProtos: []string{"http/1.1"}}}
	c, err := d.DialContext(ctx, "tcp", e.https)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

func (e *pebbleEnv) ctx() context.Context {
	ctx, cancel := context.WithTimeout(e.t.Context(), time.Minute)
	e.t.Cleanup(cancel)
	return ctx
}

func TestServeConfiguredNamesThroughTLSALPN01AndHTTP01(t *testing.T) {
	t.Parallel()
	e := newPebbleEnv(t, func(c *autotls.Config) {
		c.Names = []string{"static.example.test"}
	})
	ctx := e.ctx()

	// tls-alpn-01, validated by Pebble through the listener under test:
	// the first handshake waits for the certificate.
	leaf, err := e.handshake(ctx, "static.example.test")
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if !slicesContains(leaf.DNSNames, "static.example.test") {
		t.Errorf("served %v", leaf.DNSNames)
	}

	// http-01 for another name, through HTTPHandler on Pebble's HTTP port.
	cert, err := e.cfg.Spec("web.example.test")
	if err != nil {
		t.Fatal(err)
	}
	is := *cert.Issuer
	is.Preference = []acme.ChallengeType{acme.ChallengeHTTP01}
	cert.Issuer = &is
	if err := e.manager.Manage(ctx, cert); err != nil {
		t.Fatal(err)
	}
	if err := e.manager.Renew(ctx, "web.example.test"); err != nil {
		t.Fatalf("http-01 order: %v", err)
	}
	if _, err := e.handshake(ctx, "web.example.test"); err != nil {
		t.Fatalf("handshake for the http-01 name: %v", err)
	}

	// A full HTTPS request.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pebble.Roots()},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", e.https)
		}}}
	resp, err := hc.Get("https://static.example.test/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello static.example.test" {
		t.Errorf("body %q", body)
	}

	// Plain HTTP redirects to HTTPS for served names only.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for host, want := range map[string]string{
		"static.example.test": fmt.Sprintf("https://static.example.test:%d/a/b?c=d", e.pebble.TLSPort),
		"evil.example.test":   "",
	} {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+e.http+"/a/b?c=d", nil)
		req.Host = host
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want == "" {
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("Host %s: %d, want 404", host, resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
			t.Errorf("Host %s: %d Location %q, want 301 %q", host, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
}

func TestOnDemand(t *testing.T) {
	t.Parallel()
	var decided atomic.Int64
	e := newPebbleEnv(t, func(c *autotls.Config) {
		c.OnDemand = &autotls.OnDemandPolicy{
			Allow: []string{"*.ondemand.test"},
			Decide: func(ctx context.Context, name string) error {
				decided.Add(1)
				if ctx == nil || ctx.Done() == nil {
					return errors.New("no handshake context")
				}
				if name == "customer.example.test" {
					return nil
				}
				return errors.New("not a customer")
			},
		}
	})
	ctx := e.ctx()

	// Allowed by the allowlist.
	if _, err := e.handshake(ctx, "a.ondemand.test"); err != nil {
		t.Fatalf("allowed name: %v", err)
	}
	// Allowed by the decision function.
	if _, err := e.handshake(ctx, "customer.example.test"); err != nil {
		t.Fatalf("decided name: %v", err)
	}
	if n := e.orders.Load(); n != 2 {
		t.Errorf("%d orders for two names", n)
	}

	// Refused: a handshake error and no order.
	before := e.orders.Load()
	for _, name := range []string{"evil.example.test", "a.b.ondemand.test", "ondemand.test"} {
		if _, err := e.handshake(ctx, name); err == nil {
			t.Errorf("handshake for %s succeeded", name)
		}
	}
	if n := e.orders.Load() - before; n != 0 {
		t.Errorf("refused names placed %d orders", n)
	}
	if decided.Load() < 3 {
		t.Errorf("Decide asked %d times", decided.Load())
	}

	// Twenty concurrent handshakes for one new name: one order.
	before = e.orders.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := e.handshake(ctx, "burst.ondemand.test"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent handshake: %v", err)
	}
	if n := e.orders.Load() - before; n != 1 {
		t.Errorf("20 concurrent handshakes placed %d orders, want 1", n)
	}
	// And the next handshake is served from memory.
	if _, err := e.handshake(ctx, "burst.ondemand.test"); err != nil || e.orders.Load()-before != 1 {
		t.Errorf("later handshake: %v, %d orders", err, e.orders.Load()-before)
	}
}

func TestOnDemandFailureIsCached(t *testing.T) {
	t.Parallel()
	e := newPebbleEnv(t, func(c *autotls.Config) {
		c.OnDemand = &autotls.OnDemandPolicy{Allow: []string{"*.ondemand.test"}}
	})
	ctx := e.ctx()
	// Pebble cannot reach this name: its DNS has no address for it.
	e.pebble.DNS.SetAddrs("broken.ondemand.test")
	if _, err := e.handshake(ctx, "broken.ondemand.test"); err == nil {
		t.Fatal("handshake succeeded")
	}
	n := e.orders.Load()
	for range 3 {
		if _, err := e.handshake(ctx, "broken.ondemand.test"); err == nil {
			t.Fatal("handshake succeeded")
		}
	}
	if e.orders.Load() != n {
		t.Errorf("a failed name was ordered again: %d orders, then %d", n, e.orders.Load())
	}
	if got := len(e.manager.Status()); got != 0 {
		t.Errorf("the manager still manages %d certificates", got)
	}
}

func slicesContains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
