package http01_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/solver/http01"
	"github.com/certkeeper/certkeeper/solver/solvertest"
)

// serve starts a loopback web server for h and returns its address.
func serve(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestConformanceWebroot runs solvertest against Webroot, its directory
// served by a web server as the document root.
func TestConformanceWebroot(t *testing.T) {
	var addr string
	solvertest.Run(t, solvertest.Harness{
		Type: acme.ChallengeHTTP01,
		New: func(t *testing.T) challenge.Solver {
			dir := t.TempDir()
			addr = serve(t, http.FileServer(http.Dir(dir)))
			return http01.Webroot{Dir: dir}
		},
		Visible: func(ctx context.Context, chal acme.Challenge) error { return acmetest.ValidateHTTP01(ctx, addr, chal) },
	})
}

// TestConformanceHandler runs solvertest against Handler inside a server.
func TestConformanceHandler(t *testing.T) {
	var addr string
	solvertest.Run(t, solvertest.Harness{
		Type: acme.ChallengeHTTP01,
		New: func(t *testing.T) challenge.Solver {
			h := &http01.Handler{}
			addr = serve(t, h)
			return h
		},
		Visible: func(ctx context.Context, chal acme.Challenge) error { return acmetest.ValidateHTTP01(ctx, addr, chal) },
	})
}

// TestConformanceStandalone runs solvertest against Standalone, listening
// on a free loopback port from Listen to Close.
func TestConformanceStandalone(t *testing.T) {
	var addr string
	solvertest.Run(t, solvertest.Harness{
		Type: acme.ChallengeHTTP01,
		New: func(t *testing.T) challenge.Solver {
			s := &http01.Standalone{Addr: "127.0.0.1:0"}
			if err := s.Listen(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			addr = s.ListenAddr().String()
			return s
		},
		Visible: func(ctx context.Context, chal acme.Challenge) error { return acmetest.ValidateHTTP01(ctx, addr, chal) },
	})
}
