package acmetest

import (
	"strconv"
	"time"
)

// Fault is what a FaultProxy does to a request instead of passing it
// through.
type Fault int

const (
	// NoFault passes the request through to the upstream server.
	NoFault Fault = iota
	// Status500 answers 500 with an urn:ietf:params:acme:error:serverInternal
	// problem, without forwarding.
	Status500
	// Status503RetryAfter answers 503 with a Retry-After header and a
	// serverInternal problem, without forwarding.
	Status503RetryAfter
	// Status429RetryAfter answers 429 with a Retry-After header and an
	// urn:ietf:params:acme:error:rateLimited problem (RFC 8555 §6.6),
	// without forwarding.
	Status429RetryAfter
	// ConnectionReset resets the TCP connection without forwarding or
	// answering: the server never saw the request.
	ConnectionReset
	// DropResponse forwards the request, so the server acts on it, reads
	// the whole answer and then resets the connection instead of
	// answering: the response is lost after the server acted.
	DropResponse
	// BadNonce answers 400 with an urn:ietf:params:acme:error:badNonce
	// problem (RFC 8555 §6.5) and a fresh Replay-Nonce, without
	// forwarding.
	BadNonce
	// Slow holds the request for Rule.Delay (CAFault.Delay) before
	// serving it normally; a client that gives up first gets nothing.
	Slow
)

var faultNames = [...]string{"NoFault", "Status500", "Status503RetryAfter", "Status429RetryAfter", "ConnectionReset", "DropResponse", "BadNonce", "Slow"}

func (f Fault) String() string {
	if f >= 0 && int(f) < len(faultNames) {
		return faultNames[f]
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// Rule selects requests and the fault injected into them. A request
// matches when its method equals Method and its path starts with
// PathPrefix (both optional). Which matching requests are faulted:
//
//   - Nth > 0: the Nth matching request (counting from 1) and the Count-1
//     after it; Count 0 means 1, a negative Count means every one from the
//     Nth on.
//   - Nth == 0 and Probability > 0: each matching request with that
//     probability, drawn from a generator seeded with Seed, so a run is
//     reproducible.
//   - Nth == 0 and Probability == 0: every matching request.
//
// Pebble's paths are "/dir", "/nonce-plz", "/sign-me-up", "/my-account/",
// "/order-plz", "/my-order/", "/finalize-order/", "/authZ/", "/chalZ/",
// "/certZ/", "/revoke-cert", "/rollover-account-key" and
// "/draft-ietf-acme-ari-03/renewalInfo/".
type Rule struct {
	Method     string // "" matches every method
	PathPrefix string // "" matches every path
	Fault      Fault

	Nth         int
	Count       int
	Probability float64
	Seed        uint64

	// RetryAfter is the delay announced by Status503RetryAfter and
	// Status429RetryAfter, sent in whole seconds (rounded up). 0 means 1 s.
	RetryAfter time.Duration
	// Delay is how long Slow holds a request. 0 means 1 s.
	Delay time.Duration
	// ReplayNonce adds to an injected status answer a fresh Replay-Nonce
	// obtained from the upstream server, as a real ACME server does on
	// error responses (RFC 8555 §6.5).
	ReplayNonce bool
}

// RuleStats counts what one rule did.
type RuleStats struct {
	Rule     Rule
	Matched  int // requests the rule saw that matched it
	Injected int // faults it injected
}

// RequestRecord is one request that reached the proxy.
type RequestRecord struct {
	Time   time.Time // when the request arrived
	Method string
	Path   string
	// Rule is the index of the rule that injected Fault, or -1.
	Rule  int
	Fault Fault
	// Status is the status code sent to the client; 0 if the connection
	// was reset instead.
	Status int
	// UpstreamStatus is the upstream server's status code; 0 if the
	// request was not forwarded.
	UpstreamStatus int
	// RetryAfterGiven is the Retry-After sent to the client, injected or
	// passed through from upstream (delay-seconds form only); 0 if none.
	RetryAfterGiven time.Duration
}
