package issue

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
)

// TestOrderRequests pins the requests of one order for 10 names with a
// client that has sent nothing yet: one newNonce, for the first request
// (the directory is a GET and brings none, as with Pebble and Boulder),
// and none after it (none is fetched while one is in hand or coming with
// an answer in flight), each
// authorization fetched once and never polled (the order is: it becomes
// ready when they are all valid, RFC 8555 §7.1.3), no order poll before
// finalize (sent when the order is likely ready, and here it is), and no
// poll after a finalize that answers "valid".
func TestOrderRequests(t *testing.T) {
	ca := newTestCA(t, acmetest.CAOptions{})
	is, fs := ca.issuer(acme.ChallengeHTTP01)
	var ids []acme.Identifier
	for i := range 10 {
		ids = append(ids, acme.DNSIdentifier(fmt.Sprintf("n%d.example.test", i)))
	}
	before := map[acmetest.Endpoint]int{} // the account's registration
	for _, e := range []acmetest.Endpoint{acmetest.EndpointDirectory, acmetest.EndpointNewNonce} {
		before[e] = ca.count(e)
	}
	cert, err := is.Obtain(ctxFor(t, 30*time.Second), Request{Identifiers: ids})
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Leaf.DNSNames) != 10 {
		t.Errorf("leaf names %v", cert.Leaf.DNSNames)
	}
	want := map[acmetest.Endpoint]int{
		acmetest.EndpointDirectory: 1, acmetest.EndpointNewNonce: 1, acmetest.EndpointNewOrder: 1, acmetest.EndpointAuthz: 10,
		acmetest.EndpointChallenge: 10, acmetest.EndpointOrder: 0, acmetest.EndpointFinalize: 1, acmetest.EndpointCert: 1,
	}
	// No order poll: this CA validates while it answers a challenge and
	// issues while it answers finalize, so the finalize sent in place of
	// the first poll (acme.Client.FinalizeWhenReady) finds the order
	// ready and returns it valid.
	total := 0
	for kind, n := range want {
		if got := ca.count(kind) - before[kind]; got != n {
			t.Errorf("%d %s requests, want %d", got, kind, n)
		}
		total += ca.count(kind) - before[kind]
	}
	if p, c := fs.counts(); p != 10 || c != 10 {
		t.Errorf("%d challenges presented, %d cleaned up; want 10 and 10", p, c)
	}
	t.Logf("%d requests", total)
}

// TestRequestsInFlightWider: a wider bound sends the authorization
// fetches together, paying a newNonce for each request in flight beyond
// the nonces in hand, and the order still completes.
func TestRequestsInFlightWider(t *testing.T) {
	ca := newTestCA(t, acmetest.CAOptions{})
	is, _ := ca.issuer(acme.ChallengeHTTP01)
	is.RequestsInFlight = 10
	nonces := ca.count(acmetest.EndpointNewNonce) // the account's registration
	var ids []acme.Identifier
	for i := range 10 {
		ids = append(ids, acme.DNSIdentifier(fmt.Sprintf("n%d.example.test", i)))
	}
	if _, err := is.Obtain(ctxFor(t, 30*time.Second), Request{Identifiers: ids}); err != nil {
		t.Fatal(err)
	}
	if got := ca.count(acmetest.EndpointAuthz); got != 10 {
		t.Errorf("%d authz requests, want 10", got)
	}
	// With ten in flight the client holds fewer nonces than requests: it
	// fetches some besides the first (how many depends on the answers'
	// timing), where the default bound fetches only the first
	// (TestOrderRequests).
	if got := ca.count(acmetest.EndpointNewNonce) - nonces; got <= 1 {
		t.Errorf("no newNonce with 10 requests in flight: the bound was not widened")
	}
}

// TestFinalizeRefused: the CA's refusal of the finalize (here badCSR)
// ends Obtain with the CA's problem, named as the finalize's, and
// nothing more is sent for the order: no second finalize, no poll.
func TestFinalizeRefused(t *testing.T) {
	ca := newTestCA(t, acmetest.CAOptions{})
	is, _ := ca.issuer(acme.ChallengeHTTP01)
	ca.InjectFault(acmetest.EndpointFinalize, 1, acmetest.CAFault{Answer: &acmetest.Answer{
		Status: 400,
		Header: http.Header{"Content-Type": {"application/problem+json"}},
		Body:   []byte(`{"type":"urn:ietf:params:acme:error:badCSR","detail":"key too weak","status":400}`),
	}})
	_, err := is.Obtain(ctxFor(t, 30*time.Second), Request{Identifiers: mustIDs(t, "n.example.test")})
	var p *acme.Problem
	if !errors.As(err, &p) || p.Type != acme.ProblemBadCSR {
		t.Fatalf("got %v, want the badCSR problem", err)
	}
	if !errors.Is(err, acme.ErrFinalize) {
		t.Errorf("error %v does not wrap acme.ErrFinalize", err)
	}
	if !strings.Contains(err.Error(), "issue: finalize: ") || !strings.Contains(err.Error(), "key too weak") {
		t.Errorf("error %q does not name the finalize and quote the CA", err)
	}
	if f, o := ca.count(acmetest.EndpointFinalize), ca.count(acmetest.EndpointOrder); f != 1 || o != 0 {
		t.Errorf("%d finalize and %d order requests after the refusal, want 1 and 0", f, o)
	}
}
