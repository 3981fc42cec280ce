package tlsalpn01

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net"
	"slices"
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

// certWith makes a self-signed certificate with the given subject
// alternative names (a nil sanExt lets Go build the extension from the
// template's fields; otherwise it is the extension's raw value) and
// extra extensions.
func certWith(t *testing.T, tmpl x509.Certificate, sanExt []byte, exts ...pkix.Extension) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(1)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.ExtraExtensions = exts
	if sanExt != nil {
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidSubjectAltName, Value: sanExt})
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestVerifyCertificateRules checks each rule of RFC 8737 §3 that the CA
// applies to the certificate it is served, on real certificates (not on
// edited copies of Go's parsed fields, which the check does not trust).
func TestVerifyCertificateRules(t *testing.T) {
	dnsID := acme.Identifier{Type: acme.IdentifierDNS, Value: "example.test"}
	ipID := acme.Identifier{Type: acme.IdentifierIP, Value: "192.0.2.1"}
	good := pkix.Extension{Id: challenge.OIDACMEIdentifier(), Critical: true, Value: challenge.TLSALPN01ExtensionValue(rfcKeyAuth)}
	ext := func(critical bool, value []byte) pkix.Extension {
		return pkix.Extension{Id: challenge.OIDACMEIdentifier(), Critical: critical, Value: value}
	}
	otherDigest := challenge.TLSALPN01ExtensionValue(rfcKeyAuth + "x")
	rawDigest := challenge.TLSALPN01ExtensionValue(rfcKeyAuth)[2:] // no OCTET STRING wrapper
	// A SAN of one otherName (tag 0), which Go's parser drops, beside the DNS name.
	otherName, _ := asn1.Marshal([]asn1.RawValue{
		{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("example.test")},
		{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: []byte{0x06, 0x01, 0x2a, 0xa0, 0x03, 0x0c, 0x01, 0x78}},
	})
	for _, tc := range []struct {
		name   string
		id     acme.Identifier
		cert   *x509.Certificate
		errHas string // "" means the CA accepts it
	}{
		{"good DNS", dnsID, certWith(t, x509.Certificate{DNSNames: []string{"example.test"}}, nil, good), ""},
		{"good DNS, other case", dnsID, certWith(t, x509.Certificate{DNSNames: []string{"Example.TEST"}}, nil, good), ""},
		{"good IP", ipID, certWith(t, x509.Certificate{IPAddresses: []net.IP{net.ParseIP("192.0.2.1")}}, nil, good), ""},
		{"not critical", dnsID, certWith(t, x509.Certificate{DNSNames: []string{"example.test"}}, nil, ext(false, good.Value)), "not critical"},
		{"digest of another key authorization", dnsID, certWith(t, x509.Certificate{DNSNames: []string{"example.test"}}, nil, ext(true, otherDigest)), "want SHA-256"},
		{"digest not an OCTET STRING", dnsID, certWith(t, x509.Certificate{DNSNames: []string{"example.test"}}, nil, ext(true, rawDigest)), "not a DER OCTET STRING"},
		{"no acmeIdentifier", dnsID, certWith(t, x509.Certificate{DNSNames: []string{"example.test"}}, nil), "no acmeIdentifier"},
		{"no SAN", dnsID, certWith(t, x509.Certificate{Subject: pkix.Name{CommonName: "example.test"}}, nil, good), "no subjectAltName"},
		{"two DNS names", dnsID, certWith(t, x509.Certificate{DNSNames: []string{"example.test", "www.example.test"}}, nil, good), "want exactly DNS:example.test"},
		{"another name", dnsID, certWith(t, x509.Certificate{DNSNames: []string{"www.example.test"}}, nil, good), "want exactly DNS:example.test"},
		{"DNS name and an IP", dnsID, certWith(t, x509.Certificate{DNSNames: []string{"example.test"}, IPAddresses: []net.IP{net.ParseIP("192.0.2.1")}}, nil, good), "want exactly"},
		{"DNS name and an otherName", dnsID, certWith(t, x509.Certificate{}, otherName, good), "2 subjectAltName entries"},
		{"IP as a DNS name", ipID, certWith(t, x509.Certificate{DNSNames: []string{"192.0.2.1"}}, nil, good), "want exactly IP:192.0.2.1"},
		{"another IP", ipID, certWith(t, x509.Certificate{IPAddresses: []net.IP{net.ParseIP("192.0.2.2")}}, nil, good), "want exactly IP:192.0.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyCertificate(tc.cert, tc.id, rfcKeyAuth)
			if tc.errHas == "" {
				if err != nil {
					t.Fatalf("the CA accepts this certificate, VerifyCertificate did not: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("got %v, want an error saying %q", err, tc.errHas)
			}
		})
	}
	if err := VerifyCertificate(nil, dnsID, rfcKeyAuth); err == nil {
		t.Error("nil accepted")
	}
}

// TestSelfCheckHandshake checks what SelfCheck offers, as the CA does: the
// SNI of the identifier (the reverse name for an IP), acme-tls/1 as the
// only ALPN protocol, TLS 1.2 or later; a server that speaks only TLS 1.1
// fails.
func TestSelfCheckHandshake(t *testing.T) {
	id := acme.Identifier{Type: acme.IdentifierIP, Value: "192.0.2.1"}
	cert, err := challenge.TLSALPN01Certificate(id, rfcKeyAuth)
	if err != nil {
		t.Fatal(err)
	}
	hellos := make(chan *tls.ClientHelloInfo, 4)
	serve := func(maxVersion uint16) string {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
			MaxVersion: maxVersion, MinVersion: tls.VersionTLS10,
			NextProtos: []string{challenge.ALPNProto},
			GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
				hellos <- h
				return &cert, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
			}
		}()
		return ln.Addr().String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	chal := acme.Challenge{Type: acme.ChallengeTLSALPN01, Identifier: id, KeyAuthorization: rfcKeyAuth}
	if err := SelfCheck(ctx, serve(0), chal); err != nil {
		t.Fatal(err)
	}
	h := <-hellos
	if h.ServerName != "1.2.0.192.in-addr.arpa" || !slices.Equal(h.SupportedProtos, []string{challenge.ALPNProto}) {
		t.Errorf("hello: SNI %q, ALPN %q; want the reverse name and only %s", h.ServerName, h.SupportedProtos, challenge.ALPNProto)
	}
	if err := SelfCheck(ctx, serve(tls.VersionTLS11), chal); err == nil {
		t.Error("a TLS 1.1 server passed; the CA needs TLS 1.2 or later (RFC 8737 §4)")
	}
}

// An identifier that is not a DNS name or an IP address is refused with
// a clear error before anything is dialled: it would become the SNI.
func TestSelfCheckRefusesBadIdentifier(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan int)
	go func() {
		n := 0
		for {
			c, err := ln.Accept()
			if err != nil {
				accepted <- n
				return
			}
			n++
			c.Close()
		}
	}()
	for _, id := range []acme.Identifier{
		{Type: acme.IdentifierDNS, Value: "a\nb.example.test"},
		{Type: acme.IdentifierDNS, Value: "bad name.example.test"},
		{Type: acme.IdentifierDNS, Value: "*.example.test"},
		{Type: acme.IdentifierIP, Value: "127.0.0.1.example.test"},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := SelfCheck(ctx, ln.Addr().String(), acme.Challenge{Type: acme.ChallengeTLSALPN01, Identifier: id, KeyAuthorization: rfcKeyAuth})
		cancel()
		if err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("%s %q: %v, want an invalid identifier error", id.Type, id.Value, err)
		}
	}
	ln.Close()
	if n := <-accepted; n != 0 {
		t.Errorf("%d connections for invalid identifiers, want none", n)
	}
}
