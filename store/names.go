package store

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// wildcardLabel stands for the "*" label of a wildcard name in keys:
// '*' is a glob character to shells and is not allowed in Windows file
// names, so keys never contain it.
const wildcardLabel = "_wildcard_"

// EncodeName turns a certificate name (a DNS name or an IP address, the
// value of an ACME identifier, RFC 8555 §9.7.7) into the key component
// that stores it. The rule is reversible by DecodeName:
//
//   - DNS names are lower-cased and lose a trailing dot; they may hold
//     only ASCII letters, digits, '-', '_' and '.', so IDNs must be in
//     their "xn--" form;
//   - a leading "*." becomes "_wildcard_.", so "*.example.com" is stored
//     as "_wildcard_.example.com"; a name that already has a
//     "_wildcard_" label is refused as ambiguous;
//   - IPv4 addresses are kept; IPv6 addresses are written in their
//     canonical form with each ':' replaced by '=' ("2001:db8::1" →
//     "2001=db8==1"), a character DNS names never hold.
//
// The error wraps ErrInvalidKey.
func EncodeName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	if ip, err := netip.ParseAddr(n); err == nil {
		if ip.Zone() != "" {
			return "", fmt.Errorf("%w: name %q: an IP address with a zone", ErrInvalidKey, name)
		}
		return strings.ReplaceAll(ip.String(), ":", "="), nil
	}
	rest, prefix := n, ""
	if r, ok := strings.CutPrefix(n, "*."); ok {
		rest, prefix = r, wildcardLabel+"."
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		case c >= 0x80:
			return "", fmt.Errorf("%w: name %q is not ASCII; use its punycode (xn--) form", ErrInvalidKey, name)
		default:
			return "", fmt.Errorf("%w: name %q: character %q is not allowed in a DNS name", ErrInvalidKey, name, c)
		}
	}
	for _, label := range strings.Split(rest, ".") {
		if label == wildcardLabel {
			return "", fmt.Errorf("%w: name %q has a %q label, which is reserved for wildcards", ErrInvalidKey, name, wildcardLabel)
		}
	}
	c := prefix + rest
	if err := ValidateKey(c); err != nil || strings.Contains(c, "/") {
		return "", fmt.Errorf("%w: name %q cannot be stored", ErrInvalidKey, name)
	}
	return c, nil
}

// DecodeName reverses EncodeName. It refuses a component that EncodeName
// would not have produced, with an error wrapping ErrInvalidKey.
func DecodeName(component string) (string, error) {
	n := component
	if r, ok := strings.CutPrefix(n, wildcardLabel+"."); ok {
		n = "*." + r
	} else if strings.Contains(n, "=") {
		n = strings.ReplaceAll(n, "=", ":")
	}
	if c, err := EncodeName(n); err != nil || c != component {
		return "", fmt.Errorf("%w: %q is not an encoded certificate name", ErrInvalidKey, component)
	}
	return n, nil
}

// CADirName returns the key component that stands for the CA whose ACME
// directory URL is directoryURL: the host, lower-cased, and the port if
// it is not the scheme's default, joined by '-'. The path, query and
// user information are ignored, so two directories on one host share a
// component. Any character not allowed in keys (such as the colons of
// an IPv6 address) becomes '-'.
//
//	https://acme-v02.api.letsencrypt.org/directory → acme-v02.api.letsencrypt.org
//	https://127.0.0.1:14000/dir                    → 127.0.0.1-14000
//	https://[::1]:14000/dir                        → --1-14000
func CADirName(directoryURL string) (string, error) {
	u, err := url.Parse(directoryURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: CA directory %q is not an absolute URL", ErrInvalidKey, directoryURL)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += "-" + port
	}
	var b strings.Builder
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= 0x80:
			return "", fmt.Errorf("%w: CA host %q is not ASCII; use its punycode (xn--) form", ErrInvalidKey, u.Hostname())
		case keyByte(c):
			b.WriteByte(c)
		default:
			b.WriteByte('-')
		}
	}
	c := b.String()
	if err := ValidateKey(c); err != nil {
		return "", fmt.Errorf("CA directory %q: %w", directoryURL, err)
	}
	return c, nil
}
