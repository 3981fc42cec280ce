package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
)

// concurrentWindow: a request arriving this soon after another was given
// a Retry-After was sent before the client could have seen it.
const concurrentWindow = 20 * time.Millisecond

// TestFaultsSeeded puts a fault proxy that injects faults at random (each
// kind on each endpoint with a fixed probability, drawn from a seeded
// generator) between the client and Pebble, and obtains certificates
// through it: every one must be obtained. The seeds come from
// CERTKEEPER_FAULT_SEEDS (comma-separated, default "1"), the number of
// certificates per seed from CERTKEEPER_FAULT_CERTS (default 4), e.g.
//
//	CERTKEEPER_FAULT_SEEDS=1,2,3,4,5 CERTKEEPER_FAULT_CERTS=20 go test -run TestFaultsSeeded -v ./e2e
//
// logs "seed N: K of M certificates" per seed.
func TestFaultsSeeded(t *testing.T) {
	t.Parallel()
	seeds := []uint64{1}
	if v := os.Getenv("CERTKEEPER_FAULT_SEEDS"); v != "" {
		seeds = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				t.Fatalf("CERTKEEPER_FAULT_SEEDS: %v", err)
			}
			seeds = append(seeds, n)
		}
	}
	certs := 4
	if v := os.Getenv("CERTKEEPER_FAULT_CERTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CERTKEEPER_FAULT_CERTS=%q", v)
		}
		certs = n
	}
	e := newEnv(t, acmetest.PebbleOptions{})
	total, obtained := 0, 0
	for _, seed := range seeds {
		proxy := acmetest.NewTestFaultProxy(t, e.pebble)
		client := &acme.Client{DirectoryURL: proxy.URL, HTTPClient: proxy.HTTPClient()}
		acct, err := client.LookupAccount(e.ctx(), e.account.Key)
		if err != nil {
			t.Fatal(err)
		}
		var rules []acmetest.Rule
		i := uint64(0)
		for _, path := range []string{"/nonce-plz", "/order-plz", "/my-order/", "/authZ/", "/chalZ/", "/finalize-order/", "/certZ/"} {
			for _, f := range []struct {
				fault acmetest.Fault
				p     float64
			}{
				{acmetest.Status500, 0.08},
				{acmetest.Status503RetryAfter, 0.08},
				{acmetest.Status429RetryAfter, 0.04},
				{acmetest.ConnectionReset, 0.08},
				{acmetest.DropResponse, 0.06},
			} {
				i++
				rules = append(rules, acmetest.Rule{PathPrefix: path, Fault: f.fault, Probability: f.p,
					Seed: seed*1000 + i, RetryAfter: time.Second, ReplayNonce: i%2 == 0})
			}
		}
		proxy.SetRules(rules...)
		is := &issue.Issuer{Client: client, Account: acct, Solvers: map[acme.ChallengeType]challenge.Solver{
			acme.ChallengeHTTP01: e.httpSolver(),
		}}
		got := 0
		for n := range certs {
			name := fmt.Sprintf("s%d-%d.example.test", seed, n)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			cert, err := is.Obtain(ctx, issue.Request{Identifiers: ids(t, name, "www."+name)})
			cancel()
			total++
			if err != nil {
				t.Errorf("seed %d: %s: %v", seed, name, err)
				continue
			}
			e.verify(cert, name, "www."+name)
			got++
		}
		obtained += got
		injected := 0
		for _, s := range proxy.Stats() {
			injected += s.Injected
		}
		t.Logf("seed %d: %d of %d certificates, %d faults injected", seed, got, certs, injected)
		for _, v := range proxy.RetryAfterViolations() {
			// The request that was given the Retry-After, and how long
			// before this one it arrived.
			var gave acmetest.RequestRecord
			for _, r := range proxy.Requests() {
				if r.RetryAfterGiven > 0 && r.Method == v.Method && r.Path == v.Path && !r.Time.After(v.Time) && v.Time.Before(r.Time.Add(r.RetryAfterGiven)) {
					gave = r
				}
			}
			// Within a few milliseconds the two were in flight together
			// (parallel authorizations each fetch a nonce): the client
			// could not yet know.
			if gap := v.Time.Sub(gave.Time); gap < concurrentWindow {
				t.Logf("seed %d: request %v after one given Retry-After %v, sent before that answer: %+v", seed, gap, gave.RetryAfterGiven, v)
				continue
			}
			t.Errorf("seed %d: request %v after one given Retry-After %v: %+v", seed, v.Time.Sub(gave.Time), gave.RetryAfterGiven, v)
		}
	}
	t.Logf("all seeds: %d of %d certificates", obtained, total)
}
