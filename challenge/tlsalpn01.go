package challenge

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// ALPNProto is the ALPN protocol name a tls-alpn-01 validation offers
// (RFC 8737 §6.2).
const ALPNProto = "acme-tls/1"

// OIDACMEIdentifier returns id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31
// (RFC 8737 §6.1), the OID of the extension that carries the key
// authorization's digest. Each call returns a fresh slice.
func OIDACMEIdentifier() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}
}

// TLSALPN01ExtensionValue returns the value of the acmeIdentifier
// extension of a tls-alpn-01 validation certificate (RFC 8737 §3): the
// DER encoding of an OCTET STRING holding SHA-256(keyAuth), 34 bytes
// (0x04 0x20 and the 32-byte digest). A certificate passes only if its
// extension value is exactly these bytes.
func TLSALPN01ExtensionValue(keyAuth string) []byte {
	digest := sha256.Sum256([]byte(keyAuth))
	return append([]byte{0x04, 0x20}, digest[:]...)
}

// TLSALPN01ServerName returns the SNI value a tls-alpn-01 validation
// sends for id: the DNS name in lower case, or for an IP address its
// reverse-mapping name such as "4.3.2.1.in-addr.arpa" (RFC 8738 §6). It
// has no trailing dot, as SNI forbids one. It returns "" for an IP
// identifier that does not parse.
func TLSALPN01ServerName(id acme.Identifier) string {
	if id.Type == acme.IdentifierIP {
		ip := net.ParseIP(id.Value)
		if ip == nil {
			return ""
		}
		return reverseName(ip)
	}
	return strings.ToLower(strings.TrimSuffix(id.Value, "."))
}

func reverseName(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa", v4[3], v4[2], v4[1], v4[0])
	}
	var b strings.Builder
	const hex = "0123456789abcdef"
	for i := len(ip) - 1; i >= 0; i-- {
		b.WriteByte(hex[ip[i]&0x0f])
		b.WriteByte('.')
		b.WriteByte(hex[ip[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa")
	return b.String()
}

// TLSALPN01Certificate returns a self-signed validation certificate for
// a tls-alpn-01 challenge (RFC 8737 §3): a fresh P-256 key, one subject
// alternative name (the DNS name, or for an IP identifier the address,
// RFC 8738 §6) and the critical id-pe-acmeIdentifier extension holding
// SHA-256(keyAuth) as a DER OCTET STRING. The certificate is valid from an
// hour ago for a week; the CA does not check validity dates.
func TLSALPN01Certificate(identifier acme.Identifier, keyAuth string) (tls.Certificate, error) {
	if keyAuth == "" {
		return tls.Certificate{}, errors.New("tls-alpn-01: empty key authorization")
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "ACME tls-alpn-01 validation"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	switch identifier.Type {
	case acme.IdentifierDNS, "":
		name := strings.TrimSuffix(identifier.Value, ".")
		if name == "" || strings.HasPrefix(name, "*.") {
			return tls.Certificate{}, fmt.Errorf("tls-alpn-01: cannot validate DNS name %q", identifier.Value)
		}
		tmpl.DNSNames = []string{name}
	case acme.IdentifierIP:
		ip := net.ParseIP(identifier.Value)
		if ip == nil {
			return tls.Certificate{}, fmt.Errorf("tls-alpn-01: invalid IP address %q", identifier.Value)
		}
		tmpl.IPAddresses = []net.IP{ip}
	default:
		return tls.Certificate{}, fmt.Errorf("tls-alpn-01: unsupported identifier type %q", identifier.Type)
	}
	tmpl.ExtraExtensions = []pkix.Extension{{Id: OIDACMEIdentifier(), Critical: true, Value: TLSALPN01ExtensionValue(keyAuth)}}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls-alpn-01: serial: %w", err)
	}
	tmpl.SerialNumber = serial
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls-alpn-01: key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls-alpn-01: certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls-alpn-01: certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// VerifyTLSALPN01Certificate checks cert the way the CA checks the
// certificate it is served (RFC 8737 §3): exactly one subject alternative
// name, equal to the identifier, and a critical id-pe-acmeIdentifier
// extension whose OCTET STRING is SHA-256(keyAuth). It does not check the
// signature or the validity dates, which the CA ignores.
func VerifyTLSALPN01Certificate(cert *x509.Certificate, identifier acme.Identifier, keyAuth string) error {
	if cert == nil {
		return errors.New("tls-alpn-01: no certificate")
	}
	sans := len(cert.DNSNames) + len(cert.IPAddresses) + len(cert.EmailAddresses) + len(cert.URIs)
	switch identifier.Type {
	case acme.IdentifierDNS, "":
		want := strings.TrimSuffix(identifier.Value, ".")
		if sans != 1 || len(cert.DNSNames) != 1 || !strings.EqualFold(cert.DNSNames[0], want) {
			return fmt.Errorf("tls-alpn-01: certificate names %s, want exactly DNS:%s", certNames(cert), want)
		}
	case acme.IdentifierIP:
		ip := net.ParseIP(identifier.Value)
		if ip == nil {
			return fmt.Errorf("tls-alpn-01: invalid IP address %q", identifier.Value)
		}
		if sans != 1 || len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(ip) {
			return fmt.Errorf("tls-alpn-01: certificate names %s, want exactly IP:%s", certNames(cert), ip)
		}
	default:
		return fmt.Errorf("tls-alpn-01: unsupported identifier type %q", identifier.Type)
	}
	want := TLSALPN01ExtensionValue(keyAuth)
	oid := OIDACMEIdentifier()
	found := false
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oid) {
			continue
		}
		if found {
			return errors.New("tls-alpn-01: certificate has two acmeIdentifier extensions")
		}
		found = true
		if !ext.Critical {
			return errors.New("tls-alpn-01: acmeIdentifier extension is not critical")
		}
		if bytes.Equal(ext.Value, want) {
			continue
		}
		var got []byte
		rest, err := asn1.Unmarshal(ext.Value, &got)
		if err != nil || len(rest) != 0 {
			return errors.New("tls-alpn-01: acmeIdentifier extension is not a DER OCTET STRING")
		}
		return fmt.Errorf("tls-alpn-01: acmeIdentifier extension holds %x, want SHA-256 of the key authorization %x", got, want[2:])
	}
	if !found {
		return errors.New("tls-alpn-01: certificate has no acmeIdentifier extension (1.3.6.1.5.5.7.1.31)")
	}
	return nil
}

func certNames(cert *x509.Certificate) string {
	var names []string
	for _, n := range cert.DNSNames {
		names = append(names, "DNS:"+n)
	}
	for _, ip := range cert.IPAddresses {
		names = append(names, "IP:"+ip.String())
	}
	for _, e := range cert.EmailAddresses {
		names = append(names, "email:"+e)
	}
	for _, u := range cert.URIs {
		names = append(names, "URI:"+u.String())
	}
	if len(names) == 0 {
		return "(none)"
	}
	return "[" + strings.Join(names, " ") + "]"
}

// CheckTLSALPN01 connects to addr (host:port; empty means the identifier
// on port 443), does a TLS handshake offering only acme-tls/1 with the
// SNI the CA sends (TLSALPN01ServerName), and reports an error unless the
// server negotiates acme-tls/1 and presents a certificate that passes
// VerifyTLSALPN01Certificate.
func CheckTLSALPN01(ctx context.Context, addr string, chal acme.Challenge) error {
	if chal.Type != "" && chal.Type != acme.ChallengeTLSALPN01 {
		return fmt.Errorf("tls-alpn-01 self-check: challenge type is %q", chal.Type)
	}
	sni := TLSALPN01ServerName(chal.Identifier)
	if sni == "" {
		return fmt.Errorf("tls-alpn-01 self-check: invalid identifier %q", chal.Identifier.Value)
	}
	if addr == "" {
		addr = joinHostPort(chal.Identifier.Value, "443")
	}
	d := &tls.Dialer{Config: &tls.Config{
		ServerName:         sni,
		NextProtos:         []string{ALPNProto},
		InsecureSkipVerify: true, // the validation certificate is self-signed by design
		MinVersion:         tls.VersionTLS12,
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("tls-alpn-01 self-check: handshake with %s (SNI %s, ALPN %s): %w", addr, sni, ALPNProto, err)
	}
	defer conn.Close()
	cs := conn.(*tls.Conn).ConnectionState()
	if cs.NegotiatedProtocol != ALPNProto {
		return fmt.Errorf("tls-alpn-01 self-check: %s negotiated ALPN %q, want %q", addr, cs.NegotiatedProtocol, ALPNProto)
	}
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("tls-alpn-01 self-check: %s sent no certificate", addr)
	}
	if err := VerifyTLSALPN01Certificate(cs.PeerCertificates[0], chal.Identifier, chal.KeyAuthorization); err != nil {
		return fmt.Errorf("tls-alpn-01 self-check: %s (SNI %s): %w", addr, sni, err)
	}
	return nil
}
