package challenge

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
	"time"

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
		if err := VerifyTLSALPN01Certificate(cert.Leaf, id, testKeyAuth); err != nil {
			t.Errorf("%v: own certificate fails: %v", id, err)
		}
		err = VerifyTLSALPN01Certificate(cert.Leaf, id, testKeyAuth+"x")
		if err == nil || !strings.Contains(err.Error(), "want SHA-256") {
			t.Errorf("%v: wrong key authorization: %v", id, err)
		}
		other := acme.Identifier{Type: id.Type, Value: "192.0.2.2"}
		if id.Type == acme.IdentifierDNS {
			other.Value = "example.org"
		}
		if err := VerifyTLSALPN01Certificate(cert.Leaf, other, testKeyAuth); err == nil {
			t.Errorf("%v: certificate accepted for %v", id, other)
		}
	}
	if _, err := TLSALPN01Certificate(acme.Identifier{Type: acme.IdentifierDNS, Value: "*.example.com"}, testKeyAuth); err == nil {
		t.Error("wildcard accepted")
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

// TestTLSALPN01Handshake serves a validation certificate from a real
// crypto/tls server and checks what a client offering acme-tls/1 sees.
func TestTLSALPN01Handshake(t *testing.T) {
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}
	cert, err := TLSALPN01Certificate(id, testKeyAuth)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{ALPNProto}})
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
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "example.com", NextProtos: []string{ALPNProto}, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	cs := conn.ConnectionState()
	conn.Close()
	if cs.NegotiatedProtocol != ALPNProto {
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
	if err := VerifyTLSALPN01Certificate(leaf, id, testKeyAuth); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	chal := acme.Challenge{Type: acme.ChallengeTLSALPN01, Identifier: id, KeyAuthorization: testKeyAuth}
	if err := CheckTLSALPN01(ctx, ln.Addr().String(), chal); err != nil {
		t.Fatalf("CheckTLSALPN01: %v", err)
	}
	chal.KeyAuthorization += "x"
	if err := CheckTLSALPN01(ctx, ln.Addr().String(), chal); err == nil {
		t.Fatal("CheckTLSALPN01 passed with the wrong key authorization")
	}
}

func TestCheckTLSALPN01NoALPN(t *testing.T) {
	// A server that does not speak acme-tls/1 must fail the check.
	cert, _ := TLSALPN01Certificate(acme.Identifier{Value: "example.com"}, testKeyAuth)
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
	chal := acme.Challenge{Type: acme.ChallengeTLSALPN01, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}, KeyAuthorization: testKeyAuth}
	err = CheckTLSALPN01(context.Background(), ln.Addr().String(), chal)
	if err == nil || !strings.Contains(err.Error(), "negotiated ALPN") {
		t.Fatalf("got %v", err)
	}
}

func TestVerifyTLSALPN01Malformed(t *testing.T) {
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}
	cert, _ := TLSALPN01Certificate(id, testKeyAuth)
	leaf := *cert.Leaf
	leaf.Extensions = append([]pkix.Extension(nil), cert.Leaf.Extensions...)
	for i := range leaf.Extensions {
		if leaf.Extensions[i].Id.Equal(OIDACMEIdentifier()) {
			leaf.Extensions[i].Critical = false
		}
	}
	if err := VerifyTLSALPN01Certificate(&leaf, id, testKeyAuth); err == nil || !strings.Contains(err.Error(), "not critical") {
		t.Errorf("non-critical: %v", err)
	}
	leaf.Extensions = nil
	if err := VerifyTLSALPN01Certificate(&leaf, id, testKeyAuth); err == nil || !strings.Contains(err.Error(), "no acmeIdentifier") {
		t.Errorf("missing: %v", err)
	}
	two := *cert.Leaf
	two.DNSNames = []string{"example.com", "www.example.com"}
	if err := VerifyTLSALPN01Certificate(&two, id, testKeyAuth); err == nil {
		t.Error("two names accepted")
	}
	if err := VerifyTLSALPN01Certificate(nil, id, testKeyAuth); err == nil {
		t.Error("nil accepted")
	}
}
