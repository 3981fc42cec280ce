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
