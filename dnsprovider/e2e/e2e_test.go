package e2e

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/dnsprovider/bindtest"
	"github.com/certkeeper/certkeeper/dnsprovider/rfc2136"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// env is a BIND holding zone A (example.test, some names delegated by
// CNAME into zone B, other.test) and a Pebble resolving through it.
type env struct {
	t       *testing.T
	bind    *bindtest.Server
	pebble  *acmetest.Pebble
	client  *acme.Client
	account acme.Account
	writes  *recorder
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b := bindtest.Start(t, bindtest.Options{
		Keys: []bindtest.Key{{Name: "acme-key", Algorithm: "hmac-sha512"}},
		// Pebble resolves through this server: let it chase the CNAME into
		// other.test as the CA's recursive resolver would.
		Recursion: true,
		Zones: []bindtest.Zone{
			{Name: "example.test", Records: []string{"_acme-challenge.delegated CNAME d1.auth.other.test."}},
			{Name: "other.test"},
		},
	})
	p := acmetest.NewTestPebble(t, acmetest.PebbleOptions{DNSServer: b.Addr})
	e := &env{t: t, bind: b, pebble: p, writes: &recorder{}}
	e.client = &acme.Client{DirectoryURL: p.DirectoryURL, HTTPClient: p.HTTPClient()}
	k, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	e.account, err = e.client.NewAccount(e.ctx(), acme.Account{Key: k, TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(e.t.Context(), 60*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// recorder wraps a Provider and notes where each record went.
type recorder struct {
	dns01.Provider
	mu    sync.Mutex
	added []string // "zone fqdn"
	drop  bool     // pretend to add, write nothing
	took  []time.Duration
}

func (r *recorder) AddTXT(ctx context.Context, zone, fqdn, value string) error {
	r.mu.Lock()
	r.added = append(r.added, zone+" "+fqdn)
	r.mu.Unlock()
	if r.drop {
		return nil
	}
	start := time.Now()
	err := r.Provider.AddTXT(ctx, zone, fqdn, value)
	r.mu.Lock()
	r.took = append(r.took, time.Since(start))
	r.mu.Unlock()
	return err
}

func (e *env) solver() *dns01.Solver {
	k := e.bind.Keys[0]
	e.writes.Provider = &rfc2136.Provider{Server: e.bind.Addr, Key: rfc2136.Key{Name: k.Name, Algorithm: k.Algorithm, Secret: k.Secret}}
	return &dns01.Solver{
		Provider: e.writes,
		Resolver: dns01.Resolver{Servers: []string{e.bind.Addr}},
		// ns1.example.test and ns1.other.test are 127.0.0.1, on BIND's port.
		Propagation: dns01.Propagation{Port: e.bind.Port, Interval: 100 * time.Millisecond, Timeout: 2 * time.Second},
	}
}

func (e *env) obtain(ct acme.ChallengeType, s challenge.Solver, names ...string) (*issue.Issued, error) {
	ids, err := issue.ParseIdentifiers(names...)
	if err != nil {
		e.t.Fatal(err)
	}
	is := &issue.Issuer{Client: e.client, Account: e.account, Solvers: map[acme.ChallengeType]challenge.Solver{ct: s}}
	return is.Obtain(e.ctx(), issue.Request{Identifiers: ids})
}

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

func (e *env) noTXT(names ...string) {
	e.t.Helper()
	for _, n := range names {
		if v := e.bind.TXT(e.t, n); len(v) != 0 {
			e.t.Errorf("TXT left at %s after clean-up: %q", n, v)
		}
	}
}

func TestWildcardAndBaseThroughBIND(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	start := time.Now()
	cert, err := e.obtain(acme.ChallengeDNS01, e.solver(), "*.example.test", "example.test")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("order with two dns-01 challenges through BIND: %v; updates took %v", time.Since(start), e.writes.took)
	e.verify(cert, "example.test", "anything.example.test")
	if len(e.writes.added) != 2 || e.writes.added[0] != e.writes.added[1] || e.writes.added[0] != "example.test. _acme-challenge.example.test." {
		t.Errorf("records written at %q, want both at _acme-challenge.example.test. in example.test.", e.writes.added)
	}
	e.noTXT("_acme-challenge.example.test")
}

func TestCNAMEDelegatedThroughBIND(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cert, err := e.obtain(acme.ChallengeDNS01, e.solver(), "delegated.example.test")
	if err != nil {
		t.Fatal(err)
	}
	e.verify(cert, "delegated.example.test")
	if len(e.writes.added) != 1 || e.writes.added[0] != "other.test. d1.auth.other.test." {
		t.Errorf("record written at %q, want d1.auth.other.test. in zone other.test.", e.writes.added)
	}
	e.noTXT("d1.auth.other.test", "_acme-challenge.delegated.example.test")
}

// TestRecordNeverAppears drops the update: the propagation check must stop
// the order before the CA is asked, and say which server answered what.
func TestRecordNeverAppears(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writes.drop = true
	s := e.solver()
	s.Propagation.Timeout = 500 * time.Millisecond
	_, err := e.obtain(acme.ChallengeDNS01, s, "missing.example.test")
	var pe *dns01.PropagationError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a PropagationError", err)
	}
	t.Log(err)
	for _, want := range []string{"_acme-challenge.missing.example.test.", "ns1.example.test. (" + e.bind.Addr + ") answered NXDOMAIN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
}

func TestDNSAccount01AndPersist01ThroughBIND(t *testing.T) {
	t.Parallel()
	for _, ct := range []acme.ChallengeType{acme.ChallengeDNSAccount01, acme.ChallengeDNSPersist01} {
		t.Run(string(ct), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cert, err := e.obtain(ct, e.solver(), "acct.example.test", "*.acct.example.test")
			if err != nil {
				t.Fatal(err)
			}
			e.verify(cert, "acct.example.test", "x.acct.example.test")
			if len(e.writes.added) != 2 {
				t.Errorf("records written: %q", e.writes.added)
			}
			for _, a := range e.writes.added {
				_, fqdn, _ := strings.Cut(a, " ")
				e.noTXT(fqdn)
			}
		})
	}
}
