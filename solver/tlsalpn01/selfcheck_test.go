package tlsalpn01

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// rfcKeyAuth uses the token and account-key thumbprint of the examples in
// RFC 8555 §8.1 and §8.3.
const rfcKeyAuth = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

func TestVerifyCertificate(t *testing.T) {
	for _, id := range []acme.Identifier{
		{Type: acme.IdentifierDNS, Value: "example.com"},
		{Type: acme.IdentifierIP, Value: "192.0.2.1"},
		{Type: acme.IdentifierIP, Value: "2001:db8::1"},
	} {
		cert, err := challenge.TLSALPN01Certificate(id, rfcKeyAuth)
		if err != nil {
			t.Fatalf("%v: %v", id, err)
		}
		if err := VerifyCertificate(cert.Leaf, id, rfcKeyAuth); err != nil {
			t.Errorf("%v: own certificate fails: %v", id, err)
		}
		err = VerifyCertificate(cert.Leaf, id, rfcKeyAuth+"x")
		if err == nil || !strings.Contains(err.Error(), "want SHA-256") {
			t.Errorf("%v: wrong key authorization: %v", id, err)
		}
		other := acme.Identifier{Type: id.Type, Value: "192.0.2.2"}
		if id.Type == acme.IdentifierDNS {
			other.Value = "example.org"
		}
		if err := VerifyCertificate(cert.Leaf, other, rfcKeyAuth); err == nil {
			t.Errorf("%v: certificate accepted for %v", id, other)
		}
	}
	if _, err := challenge.TLSALPN01Certificate(acme.Identifier{Type: acme.IdentifierDNS, Value: "*.example.com"}, rfcKeyAuth); err == nil {
		t.Error("wildcard accepted")
	}
}

// TestTLSALPN01Handshake serves a validation certificate from a real
// crypto/tls server and checks what a client offering acme-tls/1 sees.
func TestTLSALPN01Handshake(t *testing.T) {
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}
	cert, err := challenge.TLSALPN01Certificate(id, rfcKeyAuth)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{challenge.ALPNProto}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "example.com", NextProtos: []string{challenge.ALPNProto}, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	cs := conn.ConnectionState()
	conn.Close()
	if cs.NegotiatedProtocol != challenge.ALPNProto {
		t.Fatalf("negotiated %q", cs.NegotiatedProtocol)
	}
	leaf := cs.PeerCertificates[0]
	var ext *struct{ critical bool }
	for _, e := range leaf.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}) {
			ext = &struct{ critical bool }{e.Critical}
		}
	}
	if ext == nil || !ext.critical {
		t.Fatalf("acmeIdentifier extension missing or not critical: %+v", leaf.Extensions)
	}
	if err := VerifyCertificate(leaf, id, rfcKeyAuth); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	chal := acme.Challenge{Type: acme.ChallengeTLSALPN01, Identifier: id, KeyAuthorization: rfcKeyAuth}
	if err := SelfCheck(ctx, ln.Addr().String(), chal); err != nil {
		t.Fatalf("SelfCheck: %v", err)
	}
	chal.KeyAuthorization += "x"
	if err := SelfCheck(ctx, ln.Addr().String(), chal); err == nil {
		t.Fatal("SelfCheck passed with the wrong key authorization")
	}
}

func TestSelfCheckNoALPN(t *testing.T) {
	// A server that does not speak acme-tls/1 must fail the check.
	cert, _ := challenge.TLSALPN01Certificate(acme.Identifier{Value: "example.com"}, rfcKeyAuth)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	chal := acme.Challenge{Type: acme.ChallengeTLSALPN01, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}, KeyAuthorization: rfcKeyAuth}
	err = SelfCheck(context.Background(), ln.Addr().String(), chal)
	if err == nil || !strings.Contains(err.Error(), "negotiated ALPN") {
		t.Fatalf("got %v", err)
	}
}

func TestVerifyTLSALPN01Malformed(t *testing.T) {
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}
	cert, _ := challenge.TLSALPN01Certificate(id, rfcKeyAuth)
	leaf := *cert.Leaf
	leaf.Extensions = append([]pkix.Extension(nil), cert.Leaf.Extensions...)
	for i := range leaf.Extensions {
		if leaf.Extensions[i].Id.Equal(challenge.OIDACMEIdentifier()) {
			leaf.Extensions[i].Critical = false
		}
	}
	if err := VerifyCertificate(&leaf, id, rfcKeyAuth); err == nil || !strings.Contains(err.Error(), "not critical") {
		t.Errorf("non-critical: %v", err)
	}
	leaf.Extensions = nil
	if err := VerifyCertificate(&leaf, id, rfcKeyAuth); err == nil || !strings.Contains(err.Error(), "no acmeIdentifier") {
		t.Errorf("missing: %v", err)
	}
	two := *cert.Leaf
	two.DNSNames = []string{"example.com", "www.example.com"}
	if err := VerifyCertificate(&two, id, rfcKeyAuth); err == nil {
		t.Error("two names accepted")
	}
	if err := VerifyCertificate(nil, id, rfcKeyAuth); err == nil {
		t.Error("nil accepted")
	}
}
