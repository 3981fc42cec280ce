package challenge

import (
	"fmt"
	"net"
	"strings"

	"github.com/certkeeper/certkeeper/acme"
)

// CheckIdentifier returns an error unless id is an identifier a CA
// validates by connecting to it (http-01, RFC 8555 §8.3; tls-alpn-01,
// RFC 8737 §3): a DNS identifier (type "dns", or none) whose value is a
// DNS name by the rules of CheckRecordName, without a wildcard label, or
// an IP identifier (RFC 8738) whose value is an IPv4 or IPv6 address. The
// self-checks call it before the value becomes a URL host, a TLS server
// name or an address to dial.
func CheckIdentifier(id acme.Identifier) error {
	switch id.Type {
	case acme.IdentifierDNS, "":
		if err := CheckRecordName(id.Value); err != nil {
			return fmt.Errorf("invalid DNS identifier: %w", err)
		}
		if strings.HasPrefix(id.Value, "*") {
			return fmt.Errorf("invalid DNS identifier %q: a wildcard is not validated by connecting to it", id.Value)
		}
	case acme.IdentifierIP:
		if net.ParseIP(id.Value) == nil {
			return fmt.Errorf("invalid IP identifier %q", id.Value)
		}
	default:
		return fmt.Errorf("unsupported identifier type %q", id.Type)
	}
	return nil
}
