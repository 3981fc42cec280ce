package challenge

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

func FuzzValidToken(f *testing.F) {
	for _, s := range []string{"", "abc", "../x", "a/b", "tok=en", "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidToken(s) {
			return
		}
		if strings.ContainsAny(s, "/.=\\\x00 ") || len(s) > 256 || s == "" {
			t.Fatalf("ValidToken(%q) = true", s)
		}
	})
}

// FuzzVerifyTLSALPN01Certificate feeds arbitrary DER to the parser and the
// verifier: neither may panic, and a certificate we did not make for this
// key authorization must never pass unless it carries its digest.
func FuzzVerifyTLSALPN01Certificate(f *testing.F) {
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}
	cert, err := TLSALPN01Certificate(id, testKeyAuth)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cert.Certificate[0])
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		_ = VerifyTLSALPN01Certificate(c, id, testKeyAuth)
		_ = VerifyTLSALPN01Certificate(c, acme.Identifier{Type: acme.IdentifierIP, Value: "192.0.2.1"}, testKeyAuth)
		if VerifyTLSALPN01Certificate(c, id, "other") == nil && VerifyTLSALPN01Certificate(c, id, testKeyAuth) == nil {
			t.Fatal("one certificate passed for two key authorizations")
		}
	})
}

// FuzzMatchPersist parses arbitrary dns-persist-01 TXT records.
func FuzzMatchPersist(f *testing.F) {
	f.Add("ca.example; accounturi=https://a/1; policy=wildcard; persistUntil=99999999999")
	f.Add("ca.example;;")
	f.Add("ca.example; accounturi")
	chal := acme.Challenge{Type: acme.ChallengeDNSPersist01, AccountURL: "https://a/1", IssuerDomainNames: []string{"ca.example"}, Wildcard: true}
	f.Fuzz(func(t *testing.T, rec string) {
		if matchPersist(rec, chal, time.Unix(0, 0)) == nil && !strings.Contains(strings.ToLower(rec), "accounturi") {
			t.Fatalf("%q accepted without accounturi", rec)
		}
	})
}
