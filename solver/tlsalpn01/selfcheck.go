package tlsalpn01

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// VerifyCertificate checks cert the way the CA checks the certificate it
// is served (RFC 8737 §3, RFC 8738 §6):
//
//   - a subjectAltName extension with exactly one entry, of the
//     identifier's kind and equal to it: a dNSName (compared without regard
//     to case) for a DNS identifier, an iPAddress for an IP one. Any other
//     entry, of whatever type (even one Go does not parse, such as an
//     otherName), fails;
//   - exactly one id-pe-acmeIdentifier extension, critical, whose value is
//     exactly challenge.TLSALPN01ExtensionValue(keyAuth): the DER OCTET
//     STRING of SHA-256(keyAuth).
//
// It does not check the signature or the validity dates, which the CA
// ignores. The error says which rule failed.
func VerifyCertificate(cert *x509.Certificate, identifier acme.Identifier, keyAuth string) error {
	if cert == nil {
		return errors.New("tls-alpn-01: no certificate")
	}
	if err := checkSAN(cert, identifier); err != nil {
		return err
	}
	want := challenge.TLSALPN01ExtensionValue(keyAuth)
	oid := challenge.OIDACMEIdentifier()
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

// oidSubjectAltName is id-ce-subjectAltName (RFC 5280 §4.2.1.6).
var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// GeneralName tags (RFC 5280 §4.2.1.6), context-specific.
const (
	tagDNSName   = 2
	tagIPAddress = 7
)

// checkSAN reports an error unless cert's subjectAltName extension holds
// exactly one GeneralName, the identifier. It reads the raw extension, so
// that a name type Go's parser drops still counts.
func checkSAN(cert *x509.Certificate, identifier acme.Identifier) error {
	var tag int
	var want []byte
	var wantName string
	switch identifier.Type {
	case acme.IdentifierDNS, "":
		wantName = strings.TrimSuffix(identifier.Value, ".")
		tag, want = tagDNSName, []byte(wantName)
		wantName = "DNS:" + wantName
	case acme.IdentifierIP:
		ip := net.ParseIP(identifier.Value)
		if ip == nil {
			return fmt.Errorf("tls-alpn-01: invalid IP address %q", identifier.Value)
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		tag, want, wantName = tagIPAddress, ip, "IP:"+ip.String()
	default:
		return fmt.Errorf("tls-alpn-01: unsupported identifier type %q", identifier.Type)
	}
	var raw []byte
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(oidSubjectAltName) {
			if raw != nil {
				return errors.New("tls-alpn-01: certificate has two subjectAltName extensions")
			}
			raw = ext.Value
		}
	}
	if raw == nil {
		return fmt.Errorf("tls-alpn-01: certificate has no subjectAltName extension, want exactly %s", wantName)
	}
	var names []asn1.RawValue
	if rest, err := asn1.Unmarshal(raw, &names); err != nil || len(rest) != 0 {
		return errors.New("tls-alpn-01: subjectAltName extension is not a DER sequence of names")
	}
	ok := len(names) == 1 && names[0].Class == asn1.ClassContextSpecific && names[0].Tag == tag
	if ok && tag == tagDNSName {
		ok = strings.EqualFold(string(names[0].Bytes), string(want))
	} else if ok {
		ok = bytes.Equal(names[0].Bytes, want)
	}
	if !ok {
		return fmt.Errorf("tls-alpn-01: certificate names %s (%d subjectAltName entries), want exactly %s", certNames(cert), len(names), wantName)
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

// SelfCheck connects to addr (host:port; empty means the identifier
// on port 443), does a TLS handshake offering only acme-tls/1 with the
// SNI the CA sends (TLSALPN01ServerName), and reports an error unless the
// server negotiates acme-tls/1 and presents a certificate that passes
// VerifyCertificate. An identifier that challenge.CheckIdentifier refuses
// (not a DNS name or an IP address, or a wildcard) is an error before
// anything is dialled.
func SelfCheck(ctx context.Context, addr string, chal acme.Challenge) error {
	if chal.Type != "" && chal.Type != acme.ChallengeTLSALPN01 {
		return fmt.Errorf("tls-alpn-01 self-check: challenge type is %q", chal.Type)
	}
	if err := challenge.CheckIdentifier(chal.Identifier); err != nil {
		return fmt.Errorf("tls-alpn-01 self-check: %w", err)
	}
	sni := challenge.TLSALPN01ServerName(chal.Identifier)
	if addr == "" {
		addr = net.JoinHostPort(chal.Identifier.Value, "443")
	}
	d := &tls.Dialer{Config: &tls.Config{
		ServerName:         sni,
		NextProtos:         []string{challenge.ALPNProto},
		InsecureSkipVerify: true, // the validation certificate is self-signed by design
		MinVersion:         tls.VersionTLS12,
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("tls-alpn-01 self-check: handshake with %s (SNI %s, ALPN %s): %w", addr, sni, challenge.ALPNProto, err)
	}
	defer conn.Close()
	cs := conn.(*tls.Conn).ConnectionState()
	if cs.NegotiatedProtocol != challenge.ALPNProto {
		return fmt.Errorf("tls-alpn-01 self-check: %s negotiated ALPN %q, want %q", addr, cs.NegotiatedProtocol, challenge.ALPNProto)
	}
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("tls-alpn-01 self-check: %s sent no certificate", addr)
	}
	if err := VerifyCertificate(cs.PeerCertificates[0], chal.Identifier, chal.KeyAuthorization); err != nil {
		return fmt.Errorf("tls-alpn-01 self-check: %s (SNI %s): %w", addr, sni, err)
	}
	return nil
}
