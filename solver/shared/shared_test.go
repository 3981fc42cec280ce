package shared_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/solver/shared"
	"github.com/certkeeper/certkeeper/solver/tlsalpn01"
	"github.com/certkeeper/certkeeper/store"
)

// idPeAcmeIdentifier is the OID of the acmeIdentifier extension (RFC 8737
// §6.1).
var idPeAcmeIdentifier = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}

// checkACMEIdentifier checks what the CA checks (RFC 8737 §3): leaf has
// exactly one acmeIdentifier extension, critical, whose value is the DER
// OCTET STRING of SHA-256(keyAuth).
func checkACMEIdentifier(t *testing.T, leaf *x509.Certificate, keyAuth string) {
	t.Helper()
	want := sha256.Sum256([]byte(keyAuth))
	found := 0
	for _, ext := range leaf.Extensions {
		if !ext.Id.Equal(idPeAcmeIdentifier) {
			continue
		}
		found++
		if !ext.Critical {
			t.Error("the acmeIdentifier extension is not critical")
		}
		var got []byte
		if rest, err := asn1.Unmarshal(ext.Value, &got); err != nil || len(rest) != 0 {
			t.Errorf("the acmeIdentifier extension is not one OCTET STRING: %x (%v)", ext.Value, err)
		} else if !bytes.Equal(got, want[:]) {
			t.Errorf("acmeIdentifier = %x, want SHA-256(%q) = %x", got, keyAuth, want)
		}
	}
	if found != 1 {
		t.Errorf("%d acmeIdentifier extensions, want 1", found)
	}
}

// Two instances share a store: what one presents, the other answers.
func TestPresentedByOneAnsweredByAnother(t *testing.T) {
	st := store.NewMemory()
	a, b := &shared.Solver{Store: st}, &shared.Solver{Store: st}
	ctx := t.Context()
	chal := acme.Challenge{Type: acme.ChallengeHTTP01, Token: "tok_123-abc", KeyAuthorization: "tok_123-abc.thumb"}
	srv := httptest.NewServer(b.HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})))
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get(challenge.HTTP01Path(chal.Token)); code != http.StatusTeapot {
		t.Errorf("before Present: %d, want the next handler's", code)
	}
	if err := a.Present(ctx, chal); err != nil {
		t.Fatal(err)
	}
	// b cached the absence for at most MissTTL; the CA asks after Present.
	waitMiss()
	if code, body := get(challenge.HTTP01Path(chal.Token)); code != 200 || body != chal.KeyAuthorization {
		t.Errorf("after Present: %d %q", code, body)
	}
	if code, _ := get("/other"); code != http.StatusTeapot {
		t.Errorf("other path: %d", code)
	}
	if err := a.CleanUp(ctx, chal); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "challenges/http-01/"+chal.Token); err == nil {
		t.Error("CleanUp left the response in the store")
	}

	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "www.example.test"}
	alpn := acme.Challenge{Type: acme.ChallengeTLSALPN01, Identifier: id, Token: "t2", KeyAuthorization: "t2.thumb"}
	hello := &tls.ClientHelloInfo{ServerName: "www.example.test", SupportedProtos: []string{challenge.ALPNProto}}
	if _, ok := b.GetCertificate(hello); ok {
		t.Error("certificate before Present")
	}
	if err := a.Present(ctx, alpn); err != nil {
		t.Fatal(err)
	}
	waitMiss()
	cert, ok := b.GetCertificate(hello)
	if !ok {
		t.Fatal("no certificate after Present")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "www.example.test" {
		t.Errorf("leaf %v, %v", leaf.DNSNames, err)
	}
	// The certificate another instance serves is one the CA accepts for
	// this key authorization, and only for it.
	if err := tlsalpn01.VerifyCertificate(leaf, id, alpn.KeyAuthorization); err != nil {
		t.Errorf("served certificate fails the CA's check: %v", err)
	}
	if err := tlsalpn01.VerifyCertificate(leaf, id, "t2.other"); err == nil {
		t.Error("served certificate passes for another key authorization")
	}
	// The same, checked here by hand rather than by the package's own
	// verifier: a bug both share would pass the lines above.
	checkACMEIdentifier(t, leaf, alpn.KeyAuthorization)
	// A hello without acme-tls/1 is not a validation.
	if _, ok := b.GetCertificate(&tls.ClientHelloInfo{ServerName: "www.example.test"}); ok {
		t.Error("answered a normal handshake")
	}
	// Another order's response for the same name is not cleaned up by
	// the first.
	other := alpn
	other.KeyAuthorization = "t3.thumb"
	if err := b.Present(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := a.CleanUp(ctx, alpn); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "challenges/tls-alpn-01/www.example.test"); err != nil {
		t.Errorf("the newer response was removed: %v", err)
	}
	if err := a.Present(ctx, acme.Challenge{Type: acme.ChallengeDNS01, KeyAuthorization: "x"}); err == nil {
		t.Error("dns-01 accepted")
	}
}

func waitMiss() {
	ctx, cancel := context.WithTimeout(context.Background(), shared.MissTTL+50e6)
	defer cancel()
	<-ctx.Done()
}
