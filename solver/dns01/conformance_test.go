package dns01_test

import (
	"context"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/dnsprovider/bindtest"
	"github.com/certkeeper/certkeeper/solver/solvertest"
)

// TestConformanceRFC2136 runs solvertest against a Solver writing through
// RFC 2136 to BIND, checked by the TXT query a CA makes.
func TestConformanceRFC2136(t *testing.T) {
	b := bindtest.Start(t, bindtest.Options{
		Keys:  []bindtest.Key{{Name: "acme-key"}},
		Zones: []bindtest.Zone{{Name: "example.test"}},
	})
	solvertest.Run(t, solvertest.Harness{
		Type:    acme.ChallengeDNS01,
		New:     func(t *testing.T) challenge.Solver { return solverFor(b) },
		Visible: func(ctx context.Context, chal acme.Challenge) error { return acmetest.ValidateDNS01(ctx, b.Addr, chal) },
	})
}
