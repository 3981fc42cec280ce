// Package solvertest checks that a challenge.Solver keeps the contract the
// order flow relies on, as store/storetest does for stores: run [Run] from
// a test of your solver with a [Harness] that says how to make one and how
// the CA would see its answer.
//
// The checks, each a subtest:
//
//   - PresentCleanUp: after Present (and Wait, for a challenge.Waiter) the
//     CA sees the answer; after CleanUp it no longer does.
//   - CleanUpTwice: a second CleanUp of the same challenge returns nil
//     (clean-up is retried after errors and on shutdown).
//   - Concurrent: several challenges presented at once from several
//     goroutines, for different names, for one name with two tokens
//     (except tls-alpn-01, which can serve one certificate per name) and,
//     for dns-01, a wildcard and its base name (two values at one record
//     name), are all visible together; cleaning one up leaves the others.
//   - Cancelled: Present, and Wait for a Waiter, return within 5 s when
//     their context is already done.
//
// Names are made under Harness.Domain ("example.test" by default), with a
// random label per run, so one server can serve several runs.
package solvertest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// Harness describes the solver under test.
type Harness struct {
	// Type is the challenge type the solver answers. Required.
	Type acme.ChallengeType
	// New returns a solver ready to Present, once per subtest; it may
	// register its clean-up with t. Required.
	New func(t *testing.T) challenge.Solver
	// Visible reports whether the CA would now accept chal's answer: nil
	// if it would, an error saying why not otherwise. Required.
	// acmetest.ValidateHTTP01, ValidateTLSALPN01 and ValidateDNS01 check
	// from the CA's side.
	Visible func(ctx context.Context, chal acme.Challenge) error
	// Domain is the DNS name under which the test names are made. Empty
	// means "example.test".
	Domain string
	// NoWildcard skips the wildcard challenge of Concurrent for a dns-01
	// solver whose backend cannot hold two values at one name.
	NoWildcard bool
}

// Run runs every check of the package against h as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Visible == nil || h.Type == "" {
		t.Fatal("solvertest: Harness needs Type, New and Visible")
	}
	if h.Domain == "" {
		h.Domain = "example.test"
	}
	t.Run("PresentCleanUp", func(t *testing.T) { testPresentCleanUp(t, h) })
	t.Run("CleanUpTwice", func(t *testing.T) { testCleanUpTwice(t, h) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, h) })
	t.Run("Cancelled", func(t *testing.T) { testCancelled(t, h) })
}

// Challenge returns a challenge of type typ for name ("*.x" makes a
// wildcard one) with a random token and a key authorization of the shape
// RFC 8555 §8.1 gives (token "." base64url thumbprint).
func Challenge(typ acme.ChallengeType, name string) acme.Challenge {
	id := acme.DNSIdentifier(name)
	wildcard := false
	if len(name) > 2 && name[:2] == "*." {
		id, wildcard = acme.DNSIdentifier(name[2:]), true
	}
	token, thumb := random(32), random(32)
	return acme.Challenge{
		Type: typ, Status: acme.StatusPending, Token: token,
		Identifier: id, Wildcard: wildcard, KeyAuthorization: token + "." + thumb,
		URL: "https://ca.example.test/chal/" + token,
	}
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// name returns a fresh name under the harness domain.
func (h Harness) name(label string) string {
	return fmt.Sprintf("%s-%x.%s", label, mrand.Uint64(), h.Domain)
}

// present presents chal and waits for it when s is a Waiter.
func present(ctx context.Context, s challenge.Solver, chal acme.Challenge) error {
	if err := s.Present(ctx, chal); err != nil {
		return fmt.Errorf("Present(%s %s): %w", chal.Type, chal.Identifier.Value, err)
	}
	if w, ok := s.(challenge.Waiter); ok {
		if err := w.Wait(ctx, chal); err != nil {
			return fmt.Errorf("Wait(%s %s): %w", chal.Type, chal.Identifier.Value, err)
		}
	}
	return nil
}

func testPresentCleanUp(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxFor(t)
	chal := Challenge(h.Type, h.name("a"))
	if err := h.Visible(ctx, chal); err == nil {
		t.Fatal("the answer is visible before Present: Visible cannot fail")
	}
	if err := present(ctx, s, chal); err != nil {
		t.Fatal(err)
	}
	if err := h.Visible(ctx, chal); err != nil {
		t.Errorf("after Present the CA would not accept the answer: %v", err)
	}
	if err := s.CleanUp(ctx, chal); err != nil {
		t.Fatalf("CleanUp: %v", err)
	}
	if err := h.Visible(ctx, chal); err == nil {
		t.Error("after CleanUp the answer is still there")
	}
}

func testCleanUpTwice(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxFor(t)
	chal := Challenge(h.Type, h.name("b"))
	if err := present(ctx, s, chal); err != nil {
		t.Fatal(err)
	}
	if err := s.CleanUp(ctx, chal); err != nil {
		t.Fatalf("CleanUp: %v", err)
	}
	if err := s.CleanUp(ctx, chal); err != nil {
		t.Errorf("second CleanUp: %v, want nil", err)
	}
	if err := h.Visible(ctx, chal); err == nil {
		t.Error("after CleanUp the answer is still there")
	}
}

func testConcurrent(t *testing.T, h Harness) {
	s, ctx := h.New(t), ctxFor(t)
	base := h.name("c")
	chals := []acme.Challenge{
		Challenge(h.Type, base),
		Challenge(h.Type, h.name("d")),
		Challenge(h.Type, h.name("e")),
	}
	if h.Type == acme.ChallengeDNS01 {
		if !h.NoWildcard {
			chals = append(chals, Challenge(h.Type, "*."+base))
		}
	} else if h.Type != acme.ChallengeTLSALPN01 {
		// A second order for one name. Not for tls-alpn-01: the CA's
		// handshake names only the identifier (RFC 8737 §3), so one
		// certificate per name can be served at a time.
		chals = append(chals, Challenge(h.Type, base))
	}
	errs := make([]error, len(chals))
	var wg sync.WaitGroup
	for i, ch := range chals {
		wg.Go(func() { errs[i] = present(ctx, s, ch) })
	}
	wg.Wait()
	defer func() {
		for i, ch := range chals[1:] {
			if errs[i+1] == nil {
				if err := s.CleanUp(context.WithoutCancel(ctx), ch); err != nil {
					t.Errorf("CleanUp: %v", err)
				}
			}
		}
	}()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ch := range chals {
		if err := h.Visible(ctx, ch); err != nil {
			t.Errorf("%s (wildcard %v) not visible with the others presented: %v", ch.Identifier.Value, ch.Wildcard, err)
		}
	}
	if err := s.CleanUp(ctx, chals[0]); err != nil {
		t.Fatalf("CleanUp: %v", err)
	}
	if err := h.Visible(ctx, chals[0]); err == nil {
		t.Errorf("%s still visible after its CleanUp", chals[0].Identifier.Value)
	}
	for _, ch := range chals[1:] {
		if err := h.Visible(ctx, ch); err != nil {
			t.Errorf("cleaning up %s removed %s (wildcard %v): %v", chals[0].Identifier.Value, ch.Identifier.Value, ch.Wildcard, err)
		}
	}
}

func testCancelled(t *testing.T, h Harness) {
	s := h.New(t)
	done, cancel := context.WithCancel(t.Context())
	cancel()
	chal := Challenge(h.Type, h.name("f"))
	within(t, "Present with a done context", func() {
		if err := s.Present(done, chal); err == nil {
			if err := s.CleanUp(ctxFor(t), chal); err != nil {
				t.Errorf("CleanUp: %v", err)
			}
		}
	})
	w, ok := s.(challenge.Waiter)
	if !ok {
		return
	}
	chal = Challenge(h.Type, h.name("g"))
	if err := s.Present(ctxFor(t), chal); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.CleanUp(ctxFor(t), chal); err != nil {
			t.Errorf("CleanUp: %v", err)
		}
	}()
	within(t, "Wait with a done context", func() { _ = w.Wait(done, chal) })
}

// within fails t unless f returns within 5 s.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	ret := make(chan struct{})
	go func() { defer close(ret); f() }()
	select {
	case <-ret:
	case <-time.After(5 * time.Second):
		t.Errorf("%s has not returned after 5 s", what)
		<-ret
	}
}
