package issue

import (
	"testing"

	"github.com/certkeeper/certkeeper/acme"
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
			ca := newStubCA(t)
			is, fs := ca.issuer(acme.ChallengeHTTP01)
			ca.mu.Lock()
			ca.invalidAuthz = tc.invalid
			ca.mu.Unlock()
			earlier, err := is.Client.NewOrder(t.Context(), is.Account, tc.earlier)
			if err != nil {
				t.Fatal(err)
			}
			ca.mu.Lock()
			ca.invalidAuthz = false
			ca.mu.Unlock()
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
			orders := ca.count("new-order")
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
