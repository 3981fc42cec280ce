package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
)

func TestHTTP01(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{})
	e.reqs.reset()
	cert, err := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: e.httpSolver()}).
		Obtain(e.ctx(), issue.Request{Identifiers: ids(t, "www.example.test")})
	if err != nil {
		t.Fatal(err)
	}
	e.verify(cert, "www.example.test")
	noListener(t, fmt.Sprintf("http://127.0.0.1:%d/", e.pebble.HTTPPort))
	// One request per step, and no newNonce: every response's nonce is
	// reused. Order polls depend on timing (the benchmark counts them):
	// at least the one after finalize, which Pebble answers
	// "processing"; the order is finalized when likely validated, and if
	// Pebble had not validated yet that finalize is refused and sent
	// again once a poll finds the order ready.
	for ep, want := range map[string]int{"newOrder": 1, "authz": 1, "challenge": 1, "cert": 1, "newNonce": 0} {
		if got := e.reqs.get(ep); got != want {
			t.Errorf("%s: %d requests, want %d (all: %s)", ep, got, want, e.reqs)
		}
	}
	if got := e.reqs.get("finalize"); got < 1 || got > 2 {
		t.Errorf("finalize: %d requests, want 1, or 2 after an early one (all: %s)", got, e.reqs)
	}
	if polls := e.reqs.get("order"); polls < 1 || polls > 6 {
		t.Errorf("%d order polls (all: %s)", polls, e.reqs)
	}
}

func TestTLSALPN01(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{})
	cert, err := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeTLSALPN01: e.tlsSolver()}).
		Obtain(e.ctx(), issue.Request{Identifiers: ids(t, "tls.example.test"), KeyType: keys.RSA2048})
	if err != nil {
		t.Fatal(err)
	}
	e.verify(cert, "tls.example.test")
	if kt, _ := keys.TypeOf(cert.Leaf.PublicKey); kt != keys.RSA2048 {
		t.Errorf("leaf key type %v, want rsa2048", kt)
	}
}

func TestDNS01WildcardAndBase(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{})
	cert, err := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeDNS01: e.dnsSolver()}).
		Obtain(e.ctx(), issue.Request{Identifiers: ids(t, "*.example.test", "example.test"), KeyType: keys.EC384})
	if err != nil {
		t.Fatal(err)
	}
	e.verify(cert, "example.test", "anything.example.test")
	if v := e.pebble.DNS.TXT("_acme-challenge.example.test."); len(v) != 0 {
		t.Errorf("TXT records left after clean-up: %q", v)
	}
}

func TestDNSAccount01AndPersist01(t *testing.T) {
	t.Parallel()
	for _, ct := range []acme.ChallengeType{acme.ChallengeDNSAccount01, acme.ChallengeDNSPersist01} {
		t.Run(string(ct), func(t *testing.T) {
			e := newEnv(t, acmetest.PebbleOptions{})
			is := e.issuer(map[acme.ChallengeType]challenge.Solver{ct: e.dnsSolver()})
			cert, err := is.Obtain(e.ctx(), issue.Request{Identifiers: ids(t, "acct.example.test")})
			if err != nil {
				t.Fatal(err)
			}
			e.verify(cert, "acct.example.test")
		})
	}
}

func TestTenNamesOneOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{})
	var names []string
	for i := range 10 {
		names = append(names, fmt.Sprintf("n%d.example.test", i))
	}
	cert, err := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: e.httpSolver()}).
		Obtain(e.ctx(), issue.Request{Identifiers: ids(t, names...)})
	if err != nil {
		t.Fatal(err)
	}
	e.verify(cert, names...)
	if n := e.reqs.get("newOrder"); n != 1 {
		t.Errorf("%d orders placed, want 1", n)
	}
}

func TestIPIdentifier(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{})
	cert, err := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: e.httpSolver()}).
		Obtain(e.ctx(), issue.Request{Identifiers: ids(t, "127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Leaf.IPAddresses) != 1 || !cert.Leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("leaf IP addresses %v, want [127.0.0.1]", cert.Leaf.IPAddresses)
	}
	e.verify(cert, "127.0.0.1")
}

func TestProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{Profiles: map[string]acmetest.Profile{
		"default":    {Description: "90 days"},
		"shortlived": {Description: "six days", ValidityPeriod: 6 * 24 * time.Hour},
	}})
	dir, err := e.client.Directory(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if dir.Meta.Profiles["shortlived"] != "six days" {
		t.Fatalf("directory profiles %v lack shortlived", dir.Meta.Profiles)
	}
	cert, err := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: e.httpSolver()}).
		Obtain(e.ctx(), issue.Request{Identifiers: ids(t, "short.example.test"), Profile: "shortlived"})
	if err != nil {
		t.Fatal(err)
	}
	if life := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore); life > 6*24*time.Hour+time.Minute || life < 6*24*time.Hour-time.Hour {
		t.Errorf("lifetime %v, want six days", life)
	}
	_, err = e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: e.httpSolver()}).
		Obtain(e.ctx(), issue.Request{Identifiers: ids(t, "short.example.test"), Profile: "no-such-profile"})
	if err == nil {
		t.Fatal("unknown profile: want an error")
	}
}

func TestAlternateChains(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{AlternateRoots: 1})
	is := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: e.httpSolver()})
	cert, err := is.Obtain(e.ctx(), issue.Request{Identifiers: ids(t, "alt.example.test")})
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Chains) != 2 {
		t.Fatalf("%d chains, want 2 (default and one alternate)", len(cert.Chains))
	}
	top := func(c acme.Chain) string { return c.Certificates[len(c.Certificates)-1].Issuer.CommonName }
	want := top(cert.Chains[1])
	if want == top(cert.Chains[0]) {
		t.Fatalf("alternate chain has the same root %q", want)
	}
	cert2, err := is.Obtain(e.ctx(), issue.Request{Identifiers: ids(t, "alt.example.test"), PreferredChain: want})
	if err != nil {
		t.Fatal(err)
	}
	if got := top(cert2.Chain); got != want {
		t.Errorf("preferred chain: got root %q, want %q", got, want)
	}
}

func TestWildcardWithoutDNSSolverFailsBeforeOrdering(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{})
	_, err := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: e.httpSolver()}).
		Obtain(e.ctx(), issue.Request{Identifiers: ids(t, "*.example.test")})
	var nse *issue.NoSolverError
	if !errors.As(err, &nse) {
		t.Fatalf("got %v, want a NoSolverError", err)
	}
	if n := e.reqs.get("newOrder"); n != 0 {
		t.Errorf("%d orders placed before the error, want 0", n)
	}
}

// TestChallengeFailureInCAWords publishes nothing for dns-01: the order
// must fail with the CA's own explanation, and clean-up must still run.
func TestChallengeFailureInCAWords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{})
	var cleaned atomic.Int32
	s := e.dnsSolver()
	s.PresentFunc = func(context.Context, acme.Challenge) error { return nil }
	s.CleanUpFunc = func(context.Context, acme.Challenge) error { cleaned.Add(1); return nil }
	_, err := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeDNS01: s}).
		Obtain(e.ctx(), issue.Request{Identifiers: ids(t, "missing.example.test")})
	if err == nil {
		t.Fatal("want an error")
	}
	var p *acme.Problem
	if !errors.As(err, &p) {
		t.Fatalf("error %v carries no *acme.Problem", err)
	}
	var oe *acme.OrderError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v is not an OrderError", err)
	}
	found := false
	for _, a := range oe.Authorizations {
		for _, c := range a.Challenges {
			if c.Error != nil && strings.Contains(err.Error(), c.Error.Detail) && c.Error.Detail != "" {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("error %q does not quote the CA's challenge error", err)
	}
	if cleaned.Load() != 1 {
		t.Errorf("clean-up ran %d times, want 1", cleaned.Load())
	}
}

// TestCancellationCleansUp cancels an order while a solver waits and checks
// that what was presented is cleaned up.
func TestCancellationCleansUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{})
	s := e.dnsSolver()
	presented := make(chan struct{})
	cleaned := make(chan struct{}, 1)
	s.PresentFunc = func(context.Context, acme.Challenge) error { close(presented); return nil }
	s.CleanUpFunc = func(ctx context.Context, _ acme.Challenge) error {
		if ctx.Err() != nil {
			t.Error("clean-up got a done context")
		}
		cleaned <- struct{}{}
		return nil
	}
	s.PropagationDelay = time.Hour
	ctx, cancel := context.WithCancel(e.ctx())
	go func() { <-presented; cancel() }()
	_, err := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeDNS01: s}).
		Obtain(ctx, issue.Request{Identifiers: ids(t, "cancel.example.test")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	select {
	case <-cleaned:
	default:
		t.Fatal("presented challenge was not cleaned up")
	}
}

// TestFailedPresentStopsTheOthers: when a solver fails for one name, the
// challenges of the other names are not accepted, and a solver still
// waiting is released at once, not after its propagation delay.
func TestFailedPresentStopsTheOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{})
	s := e.dnsSolver()
	var cleaned atomic.Int32
	s.PresentFunc = func(_ context.Context, chal acme.Challenge) error {
		if chal.Identifier.Value == "bad.example.test" {
			return errors.New("the DNS provider refused the record")
		}
		return nil
	}
	s.CleanUpFunc = func(context.Context, acme.Challenge) error { cleaned.Add(1); return nil }
	s.PropagationDelay = time.Hour
	e.reqs.reset()
	start := time.Now()
	_, err := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeDNS01: s}).
		Obtain(e.ctx(), issue.Request{Identifiers: ids(t, "good.example.test", "bad.example.test")})
	var se *issue.SolverError
	if !errors.As(err, &se) || se.Challenge.Identifier.Value != "bad.example.test" || !strings.Contains(err.Error(), "refused the record") {
		t.Fatalf("got %v, want the failing solver's error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Obtain took %v: the waiting solver was not released", d)
	}
	if n := e.reqs.get("challenge"); n != 0 {
		t.Errorf("%d challenges accepted after a solver failed, want 0", n)
	}
	if n := cleaned.Load(); n != 1 {
		t.Errorf("%d clean-ups, want 1 (the challenge that was presented)", n)
	}
}
