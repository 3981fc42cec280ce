package issue

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/net/idna"

	"github.com/certkeeper/certkeeper/acme"
)

// ErrInvalidIdentifier is wrapped by every error about a name or address
// that cannot go into an order.
var ErrInvalidIdentifier = errors.New("invalid identifier")

// idnaProfile converts internationalised names to their ASCII form and
// enforces the hostname rules of IDNA 2008 (UTS #46 lookup profile).
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false))

// Length limits of a DNS name in text form (RFC 1035 §2.3.4: 255 octets on
// the wire, so 253 characters without the trailing dot) and of a label.
const (
	maxNameLen  = 253
	maxLabelLen = 63
)

// ParseIdentifiers turns names given by a user into ACME identifiers and
// refuses, before any request is made, every spelling that is not exactly
// one name or one address:
//
//   - An IPv4 address must be four decimal parts without leading zeros
//     ("192.0.2.1"); octal, hexadecimal, short ("127.1") and integer forms,
//     a trailing dot, brackets and a port are refused, because software
//     reads them differently and the certificate would not be for what the
//     user typed.
//   - An IPv6 address is any RFC 4291 §2.2 spelling without brackets or zone
//     ("fe80::1%eth0"); it becomes its RFC 5952 form. IPv4-mapped addresses
//     ("::ffff:192.0.2.1") and IPv4-compatible ones written with a dotted
//     tail ("::192.0.2.1", deprecated by RFC 4291 §2.5.5.1) are refused:
//     give the IPv4 address instead.
//   - Anything else must be a fully qualified DNS name of letters, digits
//     and hyphens (RFC 1123 §2.1; internationalised names are converted
//     with IDNA 2008), at most 253 characters and 63 per label, no empty
//     label, optionally with one trailing dot, which is dropped. A wildcard
//     is "*." followed by such a name of at least two labels (RFC 8555
//     §7.1.3); "*" anywhere else, or on an IP address, is refused. A name
//     whose last label is a number ("example.123", "a.0x1f") is refused:
//     resolvers read it as an IPv4 address.
//   - No space or control character anywhere, leading and trailing ones
//     included.
//
// IP addresses become "ip" identifiers (RFC 8738 §3), names "dns"
// identifiers (RFC 8555 §9.7.7) in lower-case ASCII. The result is in
// canonical form: ParseIdentifier of any returned value returns it
// unchanged. Duplicates are dropped; the order is kept. Every error wraps
// ErrInvalidIdentifier and says what is wrong.
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

// ParseIdentifier parses one name or address; see ParseIdentifiers.
func ParseIdentifier(name string) (acme.Identifier, error) {
	bad := func(format string, a ...any) (acme.Identifier, error) {
		return acme.Identifier{}, fmt.Errorf("%w: %q: %s", ErrInvalidIdentifier, name, fmt.Sprintf(format, a...))
	}
	if name == "" {
		return acme.Identifier{}, fmt.Errorf("%w: empty name", ErrInvalidIdentifier)
	}
	if msg := badCharacters(name); msg != "" {
		return bad("%s", msg)
	}
	if strings.Contains(name, "://") || strings.Contains(name, "/") {
		return bad("a URL or path, not a name: give the host name alone")
	}
	if strings.ContainsAny(name, "[]") {
		inner := strings.Trim(name, "[]")
		if a, err := netip.ParseAddr(inner); err == nil && a.Is6() && a.Zone() == "" && strings.Count(name, "[") == 1 && strings.Count(name, "]") == 1 {
			return bad("brackets belong in URLs, not in identifiers: give the address alone (%s)", a)
		}
		return bad("brackets are not part of a name or an IP address")
	}
	if strings.HasPrefix(name, "*.") {
		rest := name[2:]
		if strings.Contains(rest, ":") || endsInNumber(rest) {
			return bad("a wildcard cannot cover an IP address")
		}
	}
	if strings.Contains(name, ":") {
		return parseIPv6(name)
	}
	if endsInNumber(name) {
		return parseIPv4(name)
	}
	n, err := NormalizeDNSName(name)
	if err != nil {
		return acme.Identifier{}, err
	}
	return acme.Identifier{Type: acme.IdentifierDNS, Value: n}, nil
}

// parseIPv6 parses name, which holds a colon: an IPv6 address, or a
// mistake (a port, a zone).
func parseIPv6(name string) (acme.Identifier, error) {
	bad := func(format string, a ...any) (acme.Identifier, error) {
		return acme.Identifier{}, fmt.Errorf("%w: %q: %s", ErrInvalidIdentifier, name, fmt.Sprintf(format, a...))
	}
	if strings.Contains(name, "%") {
		return bad("an IP address with a zone (%%...) names an interface of this host, not an address a certificate can be for")
	}
	if strings.Count(name, ":") == 1 {
		host, port, _ := strings.Cut(name, ":")
		if _, err := strconv.ParseUint(port, 10, 16); err == nil && host != "" {
			return bad("a port is not part of a name: give %q alone", host)
		}
	}
	a, err := netip.ParseAddr(name)
	if err != nil {
		if strings.HasSuffix(name, ".") {
			return bad("not a valid IPv6 address (an IP address takes no trailing dot)")
		}
		return bad("not a valid IPv6 address: %s", strings.TrimPrefix(err.Error(), "ParseAddr("+strconv.Quote(name)+"): "))
	}
	if a.Is4In6() {
		return bad("an IPv4-mapped IPv6 address: give the IPv4 address %s", a.Unmap())
	}
	if b := a.As16(); strings.Contains(name, ".") && [12]byte(b[:12]) == [12]byte{} {
		return bad("an IPv4-compatible IPv6 address (deprecated, RFC 4291 §2.5.5.1): give the IPv4 address %s", netip.AddrFrom4([4]byte(b[12:])))
	}
	return acme.Identifier{Type: acme.IdentifierIP, Value: a.String()}, nil
}

// parseIPv4 parses name, whose last label is a number: only the four
// part dotted-decimal form is an IPv4 address (RFC 8738 §3 uses RFC 1123
// §2.1 text), every other form is refused with the reason.
func parseIPv4(name string) (acme.Identifier, error) {
	bad := func(format string, a ...any) (acme.Identifier, error) {
		return acme.Identifier{}, fmt.Errorf("%w: %q: %s", ErrInvalidIdentifier, name, fmt.Sprintf(format, a...))
	}
	if a, err := netip.ParseAddr(name); err == nil && a.Is4() {
		return acme.Identifier{Type: acme.IdentifierIP, Value: a.String()}, nil
	}
	s := name
	if strings.HasSuffix(s, ".") {
		if a, err := netip.ParseAddr(strings.TrimSuffix(s, ".")); err == nil && a.Is4() {
			return bad("an IP address takes no trailing dot: give %s", a)
		}
		s = strings.TrimSuffix(s, ".")
	}
	parts := strings.Split(s, ".")
	allNumeric := true
	for _, p := range parts {
		if !isNumber(p) {
			allNumeric = false
		}
	}
	if !allNumeric {
		return bad("not a DNS name: its last label is a number, which resolvers read as an IPv4 address; and not an IPv4 address either")
	}
	if len(parts) != 4 {
		return bad("an IPv4 address has four decimal parts (a.b.c.d); %d parts are a form that software reads differently", len(parts))
	}
	for _, p := range parts {
		switch {
		case len(p) > 1 && (p[1] == 'x' || p[1] == 'X'):
			return bad("the part %q is hexadecimal: an IPv4 address is written in decimal", p)
		case len(p) > 1 && p[0] == '0':
			return bad("the part %q has a leading zero (read as octal by some software): write it without", p)
		}
		if v, err := strconv.Atoi(p); err != nil || v > 255 {
			return bad("the part %q is greater than 255", p)
		}
	}
	return bad("not a valid IPv4 address")
}

// endsInNumber reports whether the last label of name (ignoring one
// trailing dot) is a number as an IPv4 parser reads it: decimal, octal or
// "0x" hexadecimal (the WHATWG URL standard's "ends in a number").
func endsInNumber(name string) bool {
	s := strings.TrimSuffix(name, ".")
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[i+1:]
	}
	return isNumber(s)
}

// isNumber reports whether s is a non-empty decimal number or a "0x"
// hexadecimal one (possibly with no digits, as inet_aton reads "0x").
func isNumber(s string) bool {
	if s == "" {
		return false
	}
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return strings.Trim(s[2:], "0123456789abcdefABCDEF") == ""
	}
	return strings.Trim(s, "0123456789") == ""
}

// badCharacters describes the first space or control character in s, or
// returns "".
func badCharacters(s string) string {
	for i, r := range s {
		switch {
		case r == ' ':
			return fmt.Sprintf("a space at byte %d: a name has none, not even at the start or end", i)
		case unicode.IsSpace(r):
			return fmt.Sprintf("the white space %U at byte %d: a name has none, not even at the start or end", r, i)
		case unicode.IsControl(r) || r == unicode.ReplacementChar:
			return fmt.Sprintf("the character %U at byte %d is not allowed", r, i)
		case unicode.Is(unicode.Cf, r) && r != '\u200c' && r != '\u200d':
			// Invisible format characters (a soft hyphen, a byte order
			// mark) would vanish in the IDNA mapping: the name the user
			// sees is not the one typed. ZWNJ and ZWJ are IDNA's to judge
			// (RFC 5892 CONTEXTJ).
			return fmt.Sprintf("the invisible character %U at byte %d is not allowed", r, i)
		}
	}
	return ""
}

// NormalizeDNSName validates a DNS name (optionally a wildcard "*." in the
// leftmost label, RFC 8555 §7.1.3) and returns it in lower-case ASCII
// without a trailing dot; see ParseIdentifiers for the rules. An IP
// address is not a DNS name: it is refused, and so is any name whose last
// label is a number.
func NormalizeDNSName(name string) (string, error) {
	bad := func(format string, a ...any) (string, error) {
		return "", fmt.Errorf("%w: %q: %s", ErrInvalidIdentifier, name, fmt.Sprintf(format, a...))
	}
	if name == "" {
		return "", fmt.Errorf("%w: empty name", ErrInvalidIdentifier)
	}
	if msg := badCharacters(name); msg != "" {
		return bad("%s", msg)
	}
	s := strings.TrimSuffix(name, ".")
	wild := strings.HasPrefix(s, "*.")
	if wild {
		s = s[2:]
	}
	switch {
	case s == "*" || s == "":
		if wild || s == "*" {
			return bad("a wildcard must be followed by a domain name (*.example.com)")
		}
		return bad("empty name")
	case strings.Contains(s, "*"):
		return bad("a wildcard may only be the whole leftmost label (*.example.com)")
	}
	// ASCII labels are checked first, for a message in the words of RFC
	// 1123 rather than those of IDNA.
	if isASCII(s) {
		for _, l := range strings.Split(strings.ToLower(s), ".") {
			if err := checkLabel(l); err != nil {
				return bad("%v", err)
			}
		}
	}
	a, err := idnaProfile.ToASCII(s)
	if err != nil {
		return bad("not a valid internationalised name (IDNA 2008, UTS #46): %v", err)
	}
	a = strings.ToLower(a)
	full := a
	if wild {
		full = "*." + a
	}
	if len(full) > maxNameLen {
		return bad("%d characters, longer than the %d a DNS name may have", len(full), maxNameLen)
	}
	labels := strings.Split(a, ".")
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return bad("%v", err)
		}
	}
	if len(labels) < 2 {
		if wild {
			return bad("a wildcard must cover a name of at least two labels, not a top-level domain")
		}
		return bad("not a fully qualified name (it needs at least two labels, as in example.com)")
	}
	// A last label that is a number is no DNS name (RFC 3696 §2) but an
	// IPv4 address ("192.0.2.1") or a mistyped one: callers that take a
	// DNS name (an SNI, an allowlist) must not treat an address as one.
	if isNumber(labels[len(labels)-1]) {
		return bad("not a DNS name (the last label is a number; an IP address?)")
	}
	return full, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func checkLabel(l string) error {
	if l == "" {
		return errors.New("empty label (two dots in a row, or a dot at the start)")
	}
	if len(l) > maxLabelLen {
		return fmt.Errorf("label %q is %d characters, longer than %d", l, len(l), maxLabelLen)
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	if len(l) >= 4 && l[2:4] == "--" && l[:2] != "xn" {
		return fmt.Errorf("label %q has hyphens in the third and fourth places, reserved for IDNA's \"xn--\" (RFC 5891 §4.2.3.1)", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("label %q has the character %q (only letters, digits and hyphens are allowed)", l, c)
		}
	}
	return nil
}

// IsWildcard reports whether id is a wildcard DNS identifier.
func IsWildcard(id acme.Identifier) bool {
	return id.Type == acme.IdentifierDNS && strings.HasPrefix(id.Value, "*.")
}

// checkCanonical refuses an identifier that ParseIdentifier would not
// return as is: a Request built by hand must hold what ParseIdentifiers
// would have made of it, so that nothing malformed reaches the CA.
func checkCanonical(id acme.Identifier) error {
	if id.Type != acme.IdentifierDNS && id.Type != acme.IdentifierIP {
		return fmt.Errorf("issue: %w: %q: unsupported identifier type %q", ErrInvalidIdentifier, id.Value, id.Type)
	}
	got, err := ParseIdentifier(id.Value)
	if err != nil {
		return fmt.Errorf("issue: %w", err)
	}
	if got != id {
		return fmt.Errorf("issue: %w: %s %q is not in canonical form (ParseIdentifiers gives %s %q)", ErrInvalidIdentifier, id.Type, id.Value, got.Type, got.Value)
	}
	return nil
}

// sameIdentifierSet reports whether a and b hold the same identifiers,
// in any order (values compared as the CA and ParseIdentifiers spell
// them, DNS names without regard to case).
func sameIdentifierSet(a, b []acme.Identifier) bool {
	key := func(id acme.Identifier) string {
		v := id.Value
		if id.Type == acme.IdentifierDNS {
			v = strings.ToLower(v)
		}
		return string(id.Type) + "\x00" + v
	}
	set := make(map[string]bool, len(a))
	for _, id := range a {
		set[key(id)] = true
	}
	other := make(map[string]bool, len(b))
	for _, id := range b {
		if !set[key(id)] {
			return false
		}
		other[key(id)] = true
	}
	return len(set) == len(other)
}
