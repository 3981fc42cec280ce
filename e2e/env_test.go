package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/solver/dns01"
	"github.com/certkeeper/certkeeper/solver/http01"
	"github.com/certkeeper/certkeeper/solver/tlsalpn01"
)

// counter counts requests to the CA by endpoint.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) observe(ri acme.RequestInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[ri.Endpoint]++
}

func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = nil
}

func (c *counter) get(endpoint string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[endpoint]
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := 0
	for _, v := range c.n {
		t += v
	}
	return t
}

func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.n)
}

// env is one Pebble with a client and a registered account.
type env struct {
	t       *testing.T
	pebble  *acmetest.Pebble
	client  *acme.Client
	account acme.Account
	reqs    *counter
}

func newEnv(t *testing.T, opts acmetest.PebbleOptions) *env {
	t.Helper()
	p := acmetest.NewTestPebble(t, opts)
	e := &env{t: t, pebble: p, reqs: &counter{}}
	e.client = &acme.Client{DirectoryURL: p.DirectoryURL, HTTPClient: p.HTTPClient(), OnRequest: e.reqs.observe}
	if !opts.EABRequired {
		e.account = e.register(acme.Account{TermsOfServiceAgreed: true, Contact: []string{"mailto:admin@example.test"}})
	}
	return e
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(e.t.Context(), 60*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

func (e *env) register(acct acme.Account, opts ...acme.AccountOption) acme.Account {
	e.t.Helper()
	if acct.Key == nil {
		k, err := keys.Generate(keys.EC256)
		if err != nil {
			e.t.Fatal(err)
		}
		acct.Key = k
	}
	a, err := e.client.NewAccount(e.ctx(), acct, opts...)
	if err != nil {
		e.t.Fatalf("NewAccount: %v", err)
	}
	return a
}

func (e *env) httpSolver() *http01.Standalone {
	return &http01.Standalone{Addr: fmt.Sprintf("127.0.0.1:%d", e.pebble.HTTPPort)}
}

func (e *env) tlsSolver() *tlsalpn01.Standalone {
	return &tlsalpn01.Standalone{Addr: fmt.Sprintf("127.0.0.1:%d", e.pebble.TLSPort)}
}

// dnsSolver publishes records in the acmetest DNS server Pebble resolves
// through.
func (e *env) dnsSolver() *dns01.Callback {
	d := e.pebble.DNS
	return &dns01.Callback{
		PresentFunc: func(_ context.Context, chal acme.Challenge) error {
			name, value, err := challenge.RecordFor(chal)
			if err != nil {
				return err
			}
			d.AddTXT(name, value)
			return nil
		},
		CleanUpFunc: func(_ context.Context, chal acme.Challenge) error {
			name, value, err := challenge.RecordFor(chal)
			if err != nil {
				return err
			}
			d.RemoveTXT(name, value)
			return nil
		},
	}
}

func (e *env) issuer(solvers map[acme.ChallengeType]challenge.Solver) *issue.Issuer {
	return &issue.Issuer{Client: e.client, Account: e.account, Solvers: solvers}
}

func ids(t *testing.T, names ...string) []acme.Identifier {
	t.Helper()
	v, err := issue.ParseIdentifiers(names...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// verify checks the chain up to Pebble's issuing root(s) for every name.
func (e *env) verify(cert *issue.Issued, names ...string) {
	e.t.Helper()
	inter := x509.NewCertPool()
	for _, c := range cert.Chain.Certificates[1:] {
		inter.AddCert(c)
	}
	for _, n := range names {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: n, Roots: e.pebble.Roots(), Intermediates: inter}); err != nil {
			e.t.Errorf("chain does not verify for %q: %v", n, err)
		}
	}
}

// noListener checks that nothing answers on addr any more: a standalone
// solver must stop once its challenges are cleaned up.
func noListener(t *testing.T, url string) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	if resp, err := c.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("%s still answers after clean-up", url)
	}
}
