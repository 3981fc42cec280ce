package issue

import (
	"fmt"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// TestOrderRequests pins the requests of one order for 10 names with a
// client that has sent nothing yet: no newNonce (the stub sends a nonce
// with its directory, and none is fetched
// while one is in hand or coming with an answer in flight), each
// authorization fetched once and never polled (the order is: it becomes
// ready when they are all valid, RFC 8555 §7.1.3), one order poll, and no
// poll after a finalize that answers "valid".
func TestOrderRequests(t *testing.T) {
	ca := newStubCA(t)
	is, fs := ca.issuer(acme.ChallengeHTTP01)
	var ids []acme.Identifier
	for i := range 10 {
		ids = append(ids, acme.DNSIdentifier(fmt.Sprintf("n%d.example.test", i)))
	}
	cert, err := is.Obtain(ctxFor(t, 30*time.Second), Request{Identifiers: ids})
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Leaf.DNSNames) != 10 {
		t.Errorf("leaf names %v", cert.Leaf.DNSNames)
	}
	want := map[string]int{"dir": 1, "nonce": 0, "new-order": 1, "authz": 10, "chal": 10, "order": 1, "finalize": 1, "cert": 1}
	total := 0
	for kind, n := range want {
		if got := ca.count(kind); got != n {
			t.Errorf("%d %s requests, want %d", got, kind, n)
		}
		total += ca.count(kind)
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
	ca := newStubCA(t)
	is, _ := ca.issuer(acme.ChallengeHTTP01)
	is.RequestsInFlight = 10
	var ids []acme.Identifier
	for i := range 10 {
		ids = append(ids, acme.DNSIdentifier(fmt.Sprintf("n%d.example.test", i)))
	}
	if _, err := is.Obtain(ctxFor(t, 30*time.Second), Request{Identifiers: ids}); err != nil {
		t.Fatal(err)
	}
	if got := ca.count("authz"); got != 10 {
		t.Errorf("%d authz requests, want 10", got)
	}
	// With ten in flight the client holds fewer nonces than requests: it
	// fetches some (how many depends on the answers' timing), where the
	// default bound fetches none (TestOrderRequests).
	if got := ca.count("nonce"); got == 0 {
		t.Errorf("no newNonce with 10 requests in flight: the bound was not widened")
	}
}
