package issue

import (
	"errors"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
)

// An authorization for an identifier the order did not ask for (here one
// holding a newline) is refused before any solver sees it.
func TestAuthorizationForUnorderedIdentifier(t *testing.T) {
	for _, forged := range []string{"evil.example", "a\nb.example"} {
		ca := newTestCA(t, acmetest.CAOptions{Tamper: func(e acmetest.Endpoint, doc map[string]any) {
			if e == acmetest.EndpointAuthz {
				doc["identifier"] = acme.DNSIdentifier(forged)
			}
		}})
		is, fs := ca.issuer(acme.ChallengeHTTP01, acme.ChallengeDNS01)
		_, err := is.Obtain(ctxFor(t, 30*time.Second), Request{Identifiers: mustIDs(t, "www.example.test")})
		// Refused by the client, which saw the order.
		var mismatch *acme.MismatchError
		if !errors.As(err, &mismatch) || mismatch.Resource != "authorization" || mismatch.Field != "identifier" {
			t.Errorf("%q: Obtain = %v, want an *acme.MismatchError about the authorization's identifier", forged, err)
		}
		fs.mu.Lock()
		if len(fs.presented) != 0 {
			t.Errorf("%q: a solver was handed %v", forged, fs.presented)
		}
		fs.mu.Unlock()
	}
}
