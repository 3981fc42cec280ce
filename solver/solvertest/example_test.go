package solvertest_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/solver/http01"
	"github.com/certkeeper/certkeeper/solver/solvertest"
)

// TestMySolver is how a solver's own test runs the suite: here the
// http-01 Handler, inside a loopback server that the CA's check fetches
// from.
func TestMySolver(t *testing.T) {
	var addr string
	solvertest.Run(t, solvertest.Harness{
		Type: acme.ChallengeHTTP01,
		New: func(t *testing.T) challenge.Solver {
			h := &http01.Handler{}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			addr = strings.TrimPrefix(srv.URL, "http://")
			return h
		},
		Visible: func(ctx context.Context, chal acme.Challenge) error {
			return acmetest.ValidateHTTP01(ctx, addr, chal)
		},
	})
}

// ExampleChallenge makes a challenge as the suite does, for a solver's own
// extra tests.
func ExampleChallenge() {
	chal := solvertest.Challenge(acme.ChallengeDNS01, "*.example.test")
	fmt.Println(chal.Identifier.Value, chal.Wildcard, strings.HasPrefix(chal.KeyAuthorization, chal.Token+"."))
	// Output: example.test true true
}
