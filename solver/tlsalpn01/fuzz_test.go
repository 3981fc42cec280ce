package tlsalpn01

import (
	"crypto/x509"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// FuzzVerifyCertificate feeds arbitrary DER to the parser and the
// verifier: neither may panic, and a certificate we did not make for this
// key authorization must never pass unless it carries its digest.
func FuzzVerifyCertificate(f *testing.F) {
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}
	cert, err := challenge.TLSALPN01Certificate(id, rfcKeyAuth)
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
		_ = VerifyCertificate(c, id, rfcKeyAuth)
		_ = VerifyCertificate(c, acme.Identifier{Type: acme.IdentifierIP, Value: "192.0.2.1"}, rfcKeyAuth)
		if VerifyCertificate(c, id, "other") == nil && VerifyCertificate(c, id, rfcKeyAuth) == nil {
			t.Fatal("one certificate passed for two key authorizations")
		}
	})
}
