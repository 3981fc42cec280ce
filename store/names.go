package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/certkeeper/certkeeper/internal/redact"
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
// directory URL is directoryURL. Distinct directories give distinct
// components, even on one host (CA products serve one directory per
// product, policy or provisioner), and the component stays readable:
//
//   - the host, lower-cased and without a trailing dot, then '-' and the
//     port if it is not the scheme's default;
//   - then, if the path is not "/", '_' and the path without its leading
//     and trailing slashes, each '/' becoming '_';
//   - any byte not allowed in keys becomes '-';
//   - if that readable form does not spell the URL exactly (the scheme is
//     not https; there is a query, user information, a trailing or
//     doubled slash, a '_' or '-' that could be misread, a byte mapped to
//     '-'; or the form is too long and was cut), '+' and the first 8 hex
//     digits of the SHA-256 of the normalized URL follow, so that the
//     component still tells the URL apart.
//
// The URL is normalized first: scheme and host lower-cased, the default
// port and the fragment dropped, an empty path taken as "/".
//
//	https://acme-v02.api.letsencrypt.org/directory → acme-v02.api.letsencrypt.org_directory
//	https://127.0.0.1:14000/dir                    → 127.0.0.1-14000_dir
//	https://ca.example.test/a/directory            → ca.example.test_a_directory
//	https://ca.example.test/b/directory            → ca.example.test_b_directory
//	https://ca.example.test/                       → ca.example.test
//	https://ca.example.test/dir?policy=x           → ca.example.test_dir+<8 hex digits>
//	http://localhost:4001/directory                → localhost-4001_directory+<8 hex digits>
//	https://[::1]:14000/dir                        → --1-14000_dir+<8 hex digits>
//
// Certificates and accounts stored before this rule (when the component
// was the host and port only) are found and moved by Certs.Migrate. The
// error wraps ErrInvalidKey.
func CADirName(directoryURL string) (string, error) {
	u, err := url.Parse(directoryURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: CA directory %q is not an absolute URL", ErrInvalidKey, redact.URL(directoryURL))
	}
	hostPort, err := legacyHostPort(u)
	if err != nil {
		return "", err
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	norm := strings.ToLower(u.Scheme) + "://"
	if u.User != nil {
		norm += u.User.String() + "@"
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := defaultlessPort(u); port != "" {
		host += ":" + port
	}
	norm += host + p
	if u.RawQuery != "" || u.ForceQuery {
		norm += "?" + u.RawQuery
	}
	readable := strings.ReplaceAll(hostPort, "+", "-") // '+' marks the hash
	if trimmed := strings.Trim(p, "/"); trimmed != "" {
		var b strings.Builder
		for i := 0; i < len(trimmed); i++ {
			switch c := trimmed[i]; {
			case c == '/':
				b.WriteByte('_')
			case keyByte(c) && c != '+':
				b.WriteByte(c)
			default:
				b.WriteByte('-')
			}
		}
		readable += "_" + b.String()
	}
	const hashLen = 1 + 8
	lossy := norm != spell(readable)
	if len(readable) > MaxComponentLen-hashLen {
		readable, lossy = readable[:MaxComponentLen-hashLen], true
	}
	if lossy {
		sum := sha256.Sum256([]byte(norm))
		readable += "+" + hex.EncodeToString(sum[:4])
	}
	if err := ValidateKey(readable); err != nil {
		return "", fmt.Errorf("CA directory %q: %w", redact.URL(directoryURL), err)
	}
	return readable, nil
}

// spell is the URL that a CADirName component without a hash stands for:
// CADirName adds the hash whenever spell would not give back the
// normalized URL, which makes the rule one-to-one.
func spell(component string) string {
	hostPort, path, _ := strings.Cut(component, "_")
	if i := strings.LastIndexByte(hostPort, '-'); i >= 0 {
		if port := hostPort[i+1:]; port != "" && strings.Trim(port, "0123456789") == "" {
			hostPort = hostPort[:i] + ":" + port
		}
	}
	return "https://" + hostPort + "/" + strings.ReplaceAll(path, "_", "/")
}

func defaultlessPort(u *url.URL) string {
	port := u.Port()
	if (strings.EqualFold(u.Scheme, "https") && port == "443") || (strings.EqualFold(u.Scheme, "http") && port == "80") {
		return ""
	}
	return port
}

// legacyCADirName is the component CADirName gave before it kept the
// path: the host and port only. Certs.Migrate moves what it finds there.
func legacyCADirName(directoryURL string) (string, error) {
	u, err := url.Parse(directoryURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: CA directory %q is not an absolute URL", ErrInvalidKey, redact.URL(directoryURL))
	}
	return legacyHostPort(u)
}

// legacyHostPort is the host, lower-cased, and the port if it is not the
// scheme's default, joined by '-', with any byte not allowed in keys
// (such as the colons of an IPv6 address) turned into '-'.
func legacyHostPort(u *url.URL) (string, error) {
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if port := defaultlessPort(u); port != "" {
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
		return "", fmt.Errorf("CA directory %q: %w", redact.URL(u.String()), err)
	}
	return c, nil
}
