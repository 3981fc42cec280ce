package autotls_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/autotls"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/solver/shared"
	"github.com/certkeeper/certkeeper/store"
)

// With SharedChallenges, a Config answers the challenges another
// instance presented in the shared store, on its TLS and HTTP sides.
func TestSharedChallenges(t *testing.T) {
	st := store.NewMemory()
	m, err := manager.New(manager.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &autotls.Config{Manager: m, SharedChallenges: &shared.Solver{Store: st}}
	other := &shared.Solver{Store: st}
	ctx := context.Background()
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "www.example.test"}
	if err := other.Present(ctx, acme.Challenge{Type: acme.ChallengeTLSALPN01, Identifier: id, Token: "t", KeyAuthorization: "t.k"}); err != nil {
		t.Fatal(err)
	}
	if err := other.Present(ctx, acme.Challenge{Type: acme.ChallengeHTTP01, Identifier: id, Token: "tok", KeyAuthorization: "tok.k"}); err != nil {
		t.Fatal(err)
	}
	tc := cfg.TLSConfig()
	cert, err := tc.GetCertificate(&tls.ClientHelloInfo{ServerName: "www.example.test", SupportedProtos: []string{challenge.ALPNProto}})
	if err != nil || cert == nil {
		t.Fatalf("tls-alpn-01 presented elsewhere: %v, %v", cert, err)
	}
	if _, err := tc.GetCertificate(&tls.ClientHelloInfo{ServerName: "nothing.example.test", SupportedProtos: []string{challenge.ALPNProto}}); err == nil {
		t.Error("a validation of a name nobody presented got a certificate")
	}
	srv := httptest.NewServer(cfg.HTTPHandler(http.NotFoundHandler()))
	defer srv.Close()
	resp, err := http.Get(srv.URL + challenge.HTTP01Path("tok"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "tok.k" {
		t.Errorf("http-01 presented elsewhere: %d %q", resp.StatusCode, body)
	}
}
