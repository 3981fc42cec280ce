package tlsalpn01_test

import (
	"context"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/solver/solvertest"
	"github.com/certkeeper/certkeeper/solver/tlsalpn01"
)

// TestConformanceStandalone runs solvertest against Standalone, listening
// on a free loopback port from Listen to Close, checked by the acme-tls/1
// handshake a CA makes.
func TestConformanceStandalone(t *testing.T) {
	var addr string
	solvertest.Run(t, solvertest.Harness{
		Type: acme.ChallengeTLSALPN01,
		New: func(t *testing.T) challenge.Solver {
			s := &tlsalpn01.Standalone{Addr: "127.0.0.1:0"}
			if err := s.Listen(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			addr = s.ListenAddr().String()
			return s
		},
		Visible: func(ctx context.Context, chal acme.Challenge) error {
			return acmetest.ValidateTLSALPN01(ctx, addr, chal)
		},
	})
}
