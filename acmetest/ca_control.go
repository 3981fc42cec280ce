package acmetest

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// CAFault is what the fake CA does to one request instead of serving it
// normally (see CA.InjectFault). It reuses the kinds of the FaultProxy.
type CAFault struct {
	// Fault is the kind:
	//   - Status500, Status503RetryAfter, Status429RetryAfter: an error
	//     answer (serverInternal, or rateLimited for 429, RFC 8555 §6.6)
	//     with a fresh Replay-Nonce; the request is not acted on.
	//   - BadNonce: 400 badNonce (§6.5) with a fresh Replay-Nonce; the
	//     request is not acted on.
	//   - ConnectionReset: the connection is closed without an answer,
	//     before the request is acted on.
	//   - DropResponse: the request is acted on, then the connection is
	//     closed without an answer.
	//   - Slow: the request is served normally after Delay, or not at all
	//     if the client gives up first.
	Fault Fault
	// RetryAfter is the delay announced by Status503RetryAfter and
	// Status429RetryAfter, sent in whole seconds (rounded up). 0 means 1 s.
	RetryAfter time.Duration
	// Delay is how long Slow holds the request. 0 means 1 s.
	Delay time.Duration

	// Answer, when set, is sent as it is instead of serving the request
	// (which is not acted on), Fault being ignored: for answers no CA
	// should send, such as a non-JSON or oversized body, a problem
	// document the CA would not write, or an HTTP-date Retry-After. A
	// fresh Replay-Nonce is added unless Answer.Header has one.
	Answer *Answer
	// Rewrite, when set, serves the request as usual (the CA acts on it)
	// and then lets the test change the answer before it is sent, Fault
	// being ignored: to drop or change a header (Location, Link), or to
	// replace the answer with an error after the CA acted, as a gateway
	// that timed out would. It is called without the CA's lock.
	Rewrite func(*Answer)
}

// Answer is an HTTP answer of the fake CA at the byte level (see
// CAFault.Answer and CAFault.Rewrite).
type Answer struct {
	Status int // HTTP status; 0 means 200
	Header http.Header
	Body   []byte
}

// InjectFault makes the next n requests to endpoint answer f (n <= 0
// means 1). Faults queue per endpoint, in the order injected, and are
// consumed before any check of the request.
func (ca *CA) InjectFault(endpoint Endpoint, n int, f CAFault) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	for range max(n, 1) {
		ca.faults[endpoint] = append(ca.faults[endpoint], f)
	}
}

// ClearFaults drops every fault not yet consumed.
func (ca *CA) ClearFaults() {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	clear(ca.faults)
}

// control holds the controller's decisions; guarded by CA.mu.
type control struct {
	holding  bool
	held     []*HeldValidation // undecided, in arrival order
	changed  chan struct{}     // closed (and replaced) when held grows
	failures map[string]acme.Problem
	failNext map[string]countedFailure
	refusals map[string]acme.Problem
	windows  map[string][2]time.Time // by serial, hex
}

// countedFailure is a FailNextValidations still to be used.
type countedFailure struct {
	count   int
	problem acme.Problem
}

func (c *control) init() {
	c.changed = make(chan struct{})
	c.failures = map[string]acme.Problem{}
	c.failNext = map[string]countedFailure{}
	c.refusals = map[string]acme.Problem{}
	c.windows = map[string][2]time.Time{}
}

// HeldValidation is a validation that the controller holds (see
// CA.HoldValidations): its challenge stays "processing" and its
// authorization "pending" (RFC 8555 §7.1.6) until the test decides with
// exactly one of Approve, Fail or Release (later calls do nothing).
type HeldValidation struct {
	// Identifier is the authorization's identifier (a wildcard's base
	// name, §7.1.4).
	Identifier acme.Identifier
	// Wildcard is the authorization's wildcard flag: it is for
	// "*." + Identifier.Value (§7.1.4).
	Wildcard bool
	// Challenge is the type of the challenge the client accepted.
	Challenge acme.ChallengeType
	// Token is the challenge's token (§8.1).
	Token string

	taken   bool // handed out by NextHeld; guarded by CA.mu
	once    sync.Once
	decided atomic.Bool
	decide  chan heldDecision
}

type heldDecision struct {
	release bool          // validate as if never held
	problem *acme.Problem // nil: valid
}

func (v *HeldValidation) send(d heldDecision) {
	v.once.Do(func() {
		v.decided.Store(true)
		v.decide <- d
	})
}

// Approve makes the validation succeed without checking anything.
func (v *HeldValidation) Approve() { v.send(heldDecision{}) }

// Fail makes the validation fail with p, which the client reads as the
// challenge's error (§7.1.5). A p without Type gets unauthorized.
func (v *HeldValidation) Fail(p acme.Problem) {
	if p.Type == "" {
		p.Type = acme.ProblemUnauthorized
	}
	v.send(heldDecision{problem: &p})
}

// Release lets the validation go on as if it had never been held: checked
// for real where CAOptions asks for it, else approved unless
// FailValidations says otherwise.
func (v *HeldValidation) Release() { v.send(heldDecision{release: true}) }

// HoldValidations makes every validation from now on wait for the test's
// decision (NextHeld, then Approve, Fail or Release) or for
// ReleaseValidations, like txacme's FakeClientController.pause.
func (ca *CA) HoldValidations() {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.control.holding = true
}

// ReleaseValidations stops holding validations and releases every one
// still held, as if each had been given Release.
func (ca *CA) ReleaseValidations() {
	ca.mu.Lock()
	held := ca.control.held
	ca.control.holding, ca.control.held = false, nil
	ca.mu.Unlock()
	for _, v := range held {
		v.Release()
	}
}

// HeldCount returns how many held validations are still undecided.
func (ca *CA) HeldCount() int {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	n := 0
	for _, v := range ca.control.held {
		if !v.decided.Load() {
			n++
		}
	}
	return n
}

// ErrCAClosed is returned by NextHeld once the CA is closed.
var ErrCAClosed = errors.New("acmetest: fake CA closed")

// NextHeld waits for a held validation that NextHeld has not returned yet
// and returns it, oldest first. It fails with ctx's error when ctx ends
// first, or ErrCAClosed.
func (ca *CA) NextHeld(ctx context.Context) (*HeldValidation, error) {
	for {
		ca.mu.Lock()
		for _, v := range ca.control.held {
			if !v.taken {
				v.taken = true
				ca.mu.Unlock()
				return v, nil
			}
		}
		changed := ca.control.changed
		ca.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ca.closed:
			return nil, ErrCAClosed
		}
	}
}

// FailValidations makes every validation for the identifier value name (a
// wildcard's base name) fail with p until ClearFailures, without checking
// anything. A p without Type gets unauthorized.
func (ca *CA) FailValidations(name string, p acme.Problem) {
	if p.Type == "" {
		p.Type = acme.ProblemUnauthorized
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.control.failures[name] = p
}

// FailNextValidations makes the next n validations for the identifier
// value name (a wildcard's base name) fail with p without checking
// anything; later ones go on as usual. A p without Type gets
// unauthorized. It replaces an earlier FailNextValidations for name.
func (ca *CA) FailNextValidations(name string, n int, p acme.Problem) {
	if p.Type == "" {
		p.Type = acme.ProblemUnauthorized
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.control.failNext[name] = countedFailure{count: n, problem: p}
}

// FailAuthorizations makes every authorization created from now on for
// the identifier value name (a wildcard's base name) invalid from the
// start, each of its challenges invalid with p, as a CA that checks CAA
// (RFC 8659) when the order is placed refuses it (§7.1.4). A p without
// Type gets caa. Until ClearFailures.
func (ca *CA) FailAuthorizations(name string, p acme.Problem) {
	if p.Type == "" {
		p.Type = acme.ProblemCAA
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.control.refusals[name] = p
}

// ClearFailures undoes every FailValidations, FailNextValidations and
// FailAuthorizations.
func (ca *CA) ClearFailures() {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	clear(ca.control.failures)
	clear(ca.control.failNext)
	clear(ca.control.refusals)
}

// SetRenewalWindow sets the ARI suggested window (RFC 9773 §4.2) of a
// certificate this CA issued. Without it the window runs from two thirds
// to five sixths of the certificate's lifetime, or is the hour before now
// (renew at once) once the certificate is revoked.
func (ca *CA) SetRenewalWindow(cert *x509.Certificate, start, end time.Time) error {
	if !end.After(start) {
		return fmt.Errorf("acmetest: renewal window end %v is not after start %v", end, start)
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	key := cert.SerialNumber.Text(16)
	for _, c := range ca.certs {
		if c.leaf.SerialNumber.Text(16) == key {
			ca.control.windows[key] = [2]time.Time{start, end}
			return nil
		}
	}
	return errors.New("acmetest: certificate not issued by this CA")
}

// hold registers a held validation, or returns nil when not holding.
// Called with ca.mu held.
func (ca *CA) hold(az *caAuthz, typ acme.ChallengeType, token string) *HeldValidation {
	if !ca.control.holding {
		return nil
	}
	v := &HeldValidation{Identifier: az.ident, Wildcard: az.wildcard, Challenge: typ, Token: token, decide: make(chan heldDecision, 1)}
	ca.control.held = append(ca.control.held, v)
	close(ca.control.changed)
	ca.control.changed = make(chan struct{})
	return v
}

// unhold forgets v once decided. Called with ca.mu held.
func (ca *CA) unhold(v *HeldValidation) {
	for i, h := range ca.control.held {
		if h == v {
			ca.control.held = append(ca.control.held[:i], ca.control.held[i+1:]...)
			return
		}
	}
}
