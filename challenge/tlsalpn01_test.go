package challenge

import (
	"bytes"
	"crypto"
	"crypto/x509/pkix"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
)

func TestTLSALPN01Certificate(t *testing.T) {
	for _, id := range []acme.Identifier{
		{Type: acme.IdentifierDNS, Value: "example.com"},
		{Type: acme.IdentifierIP, Value: "192.0.2.1"},
		{Type: acme.IdentifierIP, Value: "2001:db8::1"},
	} {
		cert, err := TLSALPN01Certificate(id, testKeyAuth)
		if err != nil {
			t.Fatalf("%v: %v", id, err)
		}
		leaf := cert.Leaf
		var names []string
		names = append(names, leaf.DNSNames...)
		for _, ip := range leaf.IPAddresses {
			names = append(names, ip.String())
		}
		if len(names) != 1 || names[0] != id.Value || len(leaf.EmailAddresses)+len(leaf.URIs) != 0 {
			t.Errorf("%v: names %q, want exactly %q", id, names, id.Value)
		}
		var exts []pkix.Extension
		for _, e := range leaf.Extensions {
			if e.Id.Equal(OIDACMEIdentifier()) {
				exts = append(exts, e)
			}
		}
		if len(exts) != 1 || !exts[0].Critical || !bytes.Equal(exts[0].Value, TLSALPN01ExtensionValue(testKeyAuth)) {
			t.Errorf("%v: acmeIdentifier extensions %+v, want one, critical, holding the digest", id, exts)
		}
		if _, ok := cert.PrivateKey.(crypto.Signer); !ok || leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) != nil {
			t.Errorf("%v: not a self-signed certificate with its key", id)
		}
	}
	for _, bad := range []acme.Identifier{
		{Type: acme.IdentifierDNS, Value: "*.example.com"},
		{Type: acme.IdentifierDNS, Value: ""},
		{Type: acme.IdentifierIP, Value: "nope"},
		{Type: "email", Value: "a@example.com"},
	} {
		if _, err := TLSALPN01Certificate(bad, testKeyAuth); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := TLSALPN01Certificate(acme.Identifier{Value: "example.com"}, ""); err == nil {
		t.Error("empty key authorization accepted")
	}
}

func TestTLSALPN01ServerName(t *testing.T) {
	tests := map[acme.Identifier]string{
		{Type: acme.IdentifierDNS, Value: "Example.COM."}: "example.com",
		{Type: acme.IdentifierIP, Value: "192.0.2.1"}:     "1.2.0.192.in-addr.arpa",
		{Type: acme.IdentifierIP, Value: "2001:db8::1"}:   "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
		{Type: acme.IdentifierIP, Value: "nope"}:          "",
	}
	for id, want := range tests {
		if got := TLSALPN01ServerName(id); got != want {
			t.Errorf("TLSALPN01ServerName(%v) = %q, want %q", id, got, want)
		}
	}
}
