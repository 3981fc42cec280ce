package issue

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"

	"github.com/certkeeper/certkeeper/acme"
)

// ErrInvalidIdentifier is wrapped by every error about a name or address
// that cannot go into an order.
var ErrInvalidIdentifier = errors.New("invalid identifier")

// idnaProfile converts internationalised names to their ASCII form and
// enforces the hostname rules of IDNA 2008 (UTS #46 lookup profile).
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false))

// ParseIdentifiers turns names given by a user into ACME identifiers: IP
// addresses (v4 and v6) become "ip" identifiers (RFC 8738), everything
// else must be a valid DNS name, optionally a wildcard ("*.example.com"),
// and becomes a "dns" identifier in lower-case ASCII (punycode for IDNs),
// without a trailing dot. Duplicates are dropped; the order is kept.
func ParseIdentifiers(names ...string) ([]acme.Identifier, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no names given", ErrInvalidIdentifier)
	}
	seen := make(map[acme.Identifier]bool, len(names))
	ids := make([]acme.Identifier, 0, len(names))
	for _, n := range names {
		id, err := ParseIdentifier(n)
		if err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// ParseIdentifier parses one name; see ParseIdentifiers.
func ParseIdentifier(name string) (acme.Identifier, error) {
	s := strings.TrimSpace(name)
	if s == "" {
		return acme.Identifier{}, fmt.Errorf("%w: empty name", ErrInvalidIdentifier)
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		if a.Zone() != "" {
			return acme.Identifier{}, fmt.Errorf("%w: %q: IP address with a zone", ErrInvalidIdentifier, name)
		}
		return acme.Identifier{Type: acme.IdentifierIP, Value: a.Unmap().String()}, nil
	}
	n, err := NormalizeDNSName(s)
	if err != nil {
		return acme.Identifier{}, err
	}
	return acme.Identifier{Type: acme.IdentifierDNS, Value: n}, nil
}

// NormalizeDNSName validates a DNS name (optionally a wildcard in the
// leftmost label) and returns it in lower-case ASCII without a trailing
// dot. An IP address is not a DNS name: it is refused.
func NormalizeDNSName(name string) (string, error) {
	s := strings.TrimSuffix(strings.TrimSpace(name), ".")
	wild := strings.HasPrefix(s, "*.")
	if wild {
		s = s[2:]
	}
	if strings.Contains(s, "*") {
		return "", fmt.Errorf("%w: %q: a wildcard may only be the whole leftmost label", ErrInvalidIdentifier, name)
	}
	a, err := idnaProfile.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidIdentifier, name, err)
	}
	a = strings.ToLower(a)
	if len(a) > 253 {
		return "", fmt.Errorf("%w: %q: longer than 253 characters", ErrInvalidIdentifier, name)
	}
	labels := strings.Split(a, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("%w: %q: not a fully qualified name", ErrInvalidIdentifier, name)
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return "", fmt.Errorf("%w: %q: %v", ErrInvalidIdentifier, name, err)
		}
	}
	// An all-numeric last label is no DNS name (RFC 3696 §2) but an IPv4
	// address ("192.0.2.1") or a mistyped one: callers that take a DNS
	// name (an SNI, an allowlist) must not treat an address as one.
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", fmt.Errorf("%w: %q: not a DNS name (the last label is all digits; an IP address?)", ErrInvalidIdentifier, name)
	}
	if wild {
		a = "*." + a
	}
	return a, nil
}

func checkLabel(l string) error {
	if l == "" {
		return errors.New("empty label")
	}
	if len(l) > 63 {
		return fmt.Errorf("label %q longer than 63 characters", l)
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("label %q has the character %q", l, c)
		}
	}
	return nil
}

// IsWildcard reports whether id is a wildcard DNS identifier.
func IsWildcard(id acme.Identifier) bool {
	return id.Type == acme.IdentifierDNS && strings.HasPrefix(id.Value, "*.")
}
