package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
)

// TestNonceRejection50 runs orders against a Pebble that rejects half of
// all valid nonces: every certificate must still be obtained.
func TestNonceRejection50(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{NonceRejectPercent: 50})
	is := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: e.httpSolver()})
	for i := range 5 {
		name := fmt.Sprintf("nonce%d.example.test", i)
		cert, err := is.Obtain(e.ctx(), issue.Request{Identifiers: ids(t, name)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		e.verify(cert, name)
	}
}

// TestFaultsDoNotCostACertificate puts a fault-injecting proxy between the
// client and Pebble: 500s, 503s and 429s with Retry-After (with and without
// a nonce), connection resets, and responses lost after Pebble acted on a
// challenge, a finalize and a new order. Every certificate is obtained and
// no request goes out before a Retry-After it was given.
func TestFaultsDoNotCostACertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{})
	proxy := acmetest.NewTestFaultProxy(t, e.pebble)
	ra := time.Second
	proxy.SetRules(
		acmetest.Rule{PathPrefix: "/nonce-plz", Fault: acmetest.ConnectionReset, Nth: 1},
		acmetest.Rule{PathPrefix: "/nonce-plz", Fault: acmetest.Status503RetryAfter, Nth: 3, RetryAfter: ra},
		acmetest.Rule{PathPrefix: "/order-plz", Fault: acmetest.Status429RetryAfter, Nth: 1, RetryAfter: ra, ReplayNonce: true},
		acmetest.Rule{PathPrefix: "/order-plz", Fault: acmetest.Status503RetryAfter, Nth: 3, RetryAfter: ra},
		acmetest.Rule{PathPrefix: "/authZ/", Fault: acmetest.Status500, Nth: 1, ReplayNonce: true},
		acmetest.Rule{PathPrefix: "/authZ/", Fault: acmetest.ConnectionReset, Nth: 4},
		acmetest.Rule{PathPrefix: "/chalZ/", Fault: acmetest.DropResponse, Nth: 1},
		acmetest.Rule{PathPrefix: "/chalZ/", Fault: acmetest.ConnectionReset, Nth: 3},
		acmetest.Rule{PathPrefix: "/my-order/", Fault: acmetest.Status503RetryAfter, Nth: 2, RetryAfter: ra, ReplayNonce: true},
		acmetest.Rule{PathPrefix: "/finalize-order/", Fault: acmetest.DropResponse, Nth: 1},
		acmetest.Rule{PathPrefix: "/finalize-order/", Fault: acmetest.Status500, Nth: 2},
		acmetest.Rule{PathPrefix: "/certZ/", Fault: acmetest.ConnectionReset, Nth: 1},
		acmetest.Rule{PathPrefix: "/certZ/", Fault: acmetest.Status503RetryAfter, Nth: 3, RetryAfter: ra},
	)
	client := &acme.Client{DirectoryURL: proxy.URL, HTTPClient: proxy.HTTPClient(), OnRequest: e.reqs.observe}
	acct, err := client.LookupAccount(e.ctx(), e.account.Key)
	if err != nil {
		t.Fatal(err)
	}
	is := &issue.Issuer{Client: client, Account: acct, Solvers: map[acme.ChallengeType]challenge.Solver{
		acme.ChallengeHTTP01: e.httpSolver(),
	}}
	for i := range 3 {
		name := fmt.Sprintf("fault%d.example.test", i)
		cert, err := is.Obtain(e.ctx(), issue.Request{Identifiers: ids(t, name, "www."+name)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		e.verify(cert, name, "www."+name)
	}
	for _, s := range proxy.Stats() {
		if s.Injected == 0 {
			t.Errorf("rule %+v injected nothing: the test did not exercise it", s.Rule)
		}
	}
	for _, v := range proxy.RetryAfterViolations() {
		t.Errorf("request before its Retry-After: %+v", v)
	}
}
