package issue

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
)

// testCA is acmetest's fake CA with an account registered on it. The
// issue package's tests use it with the CAOptions and controller calls
// that give the behaviours of CAs met in the field: a failed challenge
// left pending with its error (FailedChallengeStatus), validation during
// the answer or later (HoldValidations), authorizations invalid from the
// start (FailAuthorizations), certificates that are not what was ordered
// (Misissue).
type testCA struct {
	*acmetest.CA
	t    *testing.T
	acct acme.Account
}

func newTestCA(t *testing.T, opts acmetest.CAOptions) *testCA {
	t.Helper()
	ca := acmetest.NewTestCA(t, opts)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
	acct, err := c.NewAccount(ctxFor(t, 30*time.Second), acme.Account{Key: key, TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{CA: ca, t: t, acct: acct}
}

// url is the URL of path on the CA's server.
func (s *testCA) url(path string) string { return strings.TrimSuffix(s.DirectoryURL, "/dir") + path }

// count is how many requests endpoint has received.
func (s *testCA) count(e acmetest.Endpoint) int { return s.Requests(e) }

// validateLater makes the CA validate after it has answered the
// challenge POST ("processing"), as most CAs do, rather than during it:
// every validation is held and released at once by a goroutine of the
// test.
func (s *testCA) validateLater() {
	s.decideHeld((*acmetest.HeldValidation).Release)
}

// decideHeld holds every validation and has a goroutine of the test
// decide each as it comes.
func (s *testCA) decideHeld(decide func(*acmetest.HeldValidation)) {
	s.HoldValidations()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			v, err := s.NextHeld(ctx)
			if err != nil {
				return
			}
			decide(v)
		}
	}()
	s.t.Cleanup(func() { cancel(); <-done })
}

// issuer returns an Issuer on the CA, with a client that has sent nothing
// yet and a recording solver for each of the types given.
func (s *testCA) issuer(types ...acme.ChallengeType) (*Issuer, *fakeSolver) {
	fs := &fakeSolver{}
	solvers := map[acme.ChallengeType]challenge.Solver{}
	for _, t := range types {
		solvers[t] = fs
	}
	return &Issuer{
		Client:  &acme.Client{DirectoryURL: s.DirectoryURL, HTTPClient: s.HTTPClient()},
		Account: s.acct,
		Solvers: solvers,
		timing:  &watchTiming{schedule: []time.Duration{200 * time.Millisecond}, staleGrace: 500 * time.Millisecond},
	}, fs
}

// fakeSolver records what it is asked to present and clean up.
type fakeSolver struct {
	mu        sync.Mutex
	presented []acme.Challenge
	cleaned   []acme.Challenge
}

func (f *fakeSolver) Present(_ context.Context, c acme.Challenge) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.presented = append(f.presented, c)
	return nil
}

func (f *fakeSolver) CleanUp(_ context.Context, c acme.Challenge) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleaned = append(f.cleaned, c)
	return nil
}

func (f *fakeSolver) counts() (presented, cleaned int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.presented), len(f.cleaned)
}
