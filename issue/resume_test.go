package issue

import (
	"crypto"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/keys"
)

// An order placed earlier (by an attempt cut short) is continued when it
// is still pending and for the same identifiers; otherwise a new one is
// placed, and only that one is reported to OnOrder.
func TestResume(t *testing.T) {
	ids := []acme.Identifier{{Type: acme.IdentifierDNS, Value: "a.example"}, {Type: acme.IdentifierDNS, Value: "b.example"}}
	for _, tc := range []struct {
		name     string
		earlier  []acme.Identifier
		invalid  bool // the earlier order's authorizations are invalid
		resumed  bool
		reversed bool // the request names the identifiers in another order
	}{
		{name: "pending", earlier: ids, resumed: true},
		{name: "pending, identifiers in another order", earlier: ids, resumed: true, reversed: true},
		{name: "invalid", earlier: ids, invalid: true},
		{name: "other identifiers", earlier: ids[:1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := newTestCA(t, acmetest.CAOptions{})
			is, fs := ca.issuer(acme.ChallengeHTTP01)
			if tc.invalid {
				for _, id := range tc.earlier {
					ca.FailAuthorizations(id.Value, acme.Problem{})
				}
			}
			earlier, err := is.Client.NewOrder(t.Context(), is.Account, tc.earlier)
			if err != nil {
				t.Fatal(err)
			}
			ca.ClearFailures()
			want := ids
			if tc.reversed {
				want = []acme.Identifier{ids[1], ids[0]}
			}
			var placed []string
			cert, err := is.Obtain(t.Context(), Request{
				Identifiers: want,
				Resume:      earlier.URL,
				OnOrder:     func(url string) { placed = append(placed, url) },
			})
			if err != nil {
				t.Fatal(err)
			}
			orders := ca.count(acmetest.EndpointNewOrder)
			if tc.resumed {
				if orders != 1 {
					t.Errorf("%d newOrder requests, want only the earlier one", orders)
				}
				if cert.OrderURL != earlier.URL {
					t.Errorf("certificate from order %s, want the earlier %s", cert.OrderURL, earlier.URL)
				}
				if len(placed) != 0 {
					t.Errorf("OnOrder called for a resumed order: %v", placed)
				}
			} else {
				if orders != 2 {
					t.Errorf("%d newOrder requests, want the earlier one and a new one", orders)
				}
				if cert.OrderURL == earlier.URL {
					t.Errorf("certificate from the earlier order %s, which cannot be continued", earlier.URL)
				}
				if len(placed) != 1 || placed[0] != cert.OrderURL {
					t.Errorf("OnOrder got %v, want [%s]", placed, cert.OrderURL)
				}
			}
			if p, c := fs.counts(); p != c {
				t.Errorf("presented %d, cleaned up %d", p, c)
			}
		})
	}
}

// An order the earlier attempt already finalized (killed while the CA was
// processing it, or before it downloaded the certificate) is continued
// when the key it was finalized with is given again: waited on while
// processing, its certificate downloaded once valid, and checked against
// that key. Without the key, with another key, or when the CA no longer
// knows the order (404), a new order is placed.
func TestResumeFinalized(t *testing.T) {
	ids := []acme.Identifier{{Type: acme.IdentifierDNS, Value: "a.example"}}
	for _, tc := range []struct {
		name       string
		processing int  // looks at the order that say processing
		key        int  // 0: the earlier key, 1: another key, -1: none
		gone       bool // the CA answers 404 for the earlier order
		resumed    bool
	}{
		{name: "valid", resumed: true},
		{name: "processing", processing: 2, resumed: true},
		{name: "valid, no key given", key: -1},
		{name: "valid, another key", key: 1},
		{name: "unknown to the CA", gone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// processing makes the CA say "processing" (without the
			// certificate) on that many reads of a valid order.
			var processing atomic.Int32
			ca := newTestCA(t, acmetest.CAOptions{Tamper: func(e acmetest.Endpoint, doc map[string]any) {
				if e == acmetest.EndpointOrder && doc["status"] == acme.StatusValid && processing.Load() > 0 {
					processing.Add(-1)
					doc["status"] = acme.StatusProcessing
					delete(doc, "certificate")
				}
			}})
			is, _ := ca.issuer(acme.ChallengeHTTP01)
			k0, err := keys.Generate(keys.EC256)
			if err != nil {
				t.Fatal(err)
			}
			k1, _ := keys.Generate(keys.EC256)
			// The earlier attempt: finalized with k0, then cut short.
			earlier, err := is.Obtain(t.Context(), Request{Identifiers: ids, Key: k0})
			if err != nil {
				t.Fatal(err)
			}
			resume := earlier.OrderURL
			processing.Store(int32(tc.processing))
			if tc.gone {
				resume = ca.url("/order/999")
			}
			req := Request{Identifiers: ids, Resume: resume}
			switch tc.key {
			case 0:
				req.Key = k0
			case 1:
				req.Key = k1
			}
			cert, err := is.Obtain(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			orders := ca.count(acmetest.EndpointNewOrder)
			if tc.resumed {
				if orders != 1 || cert.OrderURL != earlier.OrderURL {
					t.Errorf("%d newOrder requests, certificate from %s; want only the earlier order, %s", orders, cert.OrderURL, earlier.OrderURL)
				}
				if n := ca.count(acmetest.EndpointFinalize); n != 1 {
					t.Errorf("%d finalize requests, want the earlier attempt's only", n)
				}
			} else if orders != 2 || cert.OrderURL == earlier.OrderURL {
				t.Errorf("%d newOrder requests, certificate from %s; want a new order", orders, cert.OrderURL)
			}
			if !cert.Leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(cert.Key.Public()) {
				t.Error("the certificate is not for the key returned")
			}
		})
	}
}

// With ResumeOnly, an order that can be continued is, and one that
// cannot is reported as ErrNotResumed, with no new order placed.
func TestResumeOnly(t *testing.T) {
	ids := []acme.Identifier{{Type: acme.IdentifierDNS, Value: "a.example"}}
	for _, tc := range []struct {
		name    string
		invalid bool
		earlier []acme.Identifier
	}{
		{name: "pending", earlier: ids},
		{name: "invalid", earlier: ids, invalid: true},
		{name: "other identifiers", earlier: []acme.Identifier{{Type: acme.IdentifierDNS, Value: "b.example"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := newTestCA(t, acmetest.CAOptions{})
			is, _ := ca.issuer(acme.ChallengeHTTP01)
			if tc.invalid {
				ca.FailAuthorizations(ids[0].Value, acme.Problem{})
			}
			earlier, err := is.Client.NewOrder(t.Context(), is.Account, tc.earlier)
			if err != nil {
				t.Fatal(err)
			}
			ca.ClearFailures()
			cert, err := is.Obtain(t.Context(), Request{Identifiers: ids, Resume: earlier.URL, ResumeOnly: true,
				OnOrder: func(url string) { t.Errorf("OnOrder(%s): a new order was placed", url) }})
			if n := ca.count(acmetest.EndpointNewOrder); n != 1 {
				t.Errorf("%d newOrder requests, want only the earlier one", n)
			}
			if tc.name == "pending" {
				if err != nil || cert.OrderURL != earlier.URL {
					t.Fatalf("Obtain = %v, %v; want the earlier order's certificate", cert, err)
				}
				return
			}
			if !errors.Is(err, ErrNotResumed) {
				t.Fatalf("Obtain error %v, want ErrNotResumed", err)
			}
		})
	}
}
