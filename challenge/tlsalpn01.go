package challenge

import (
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
