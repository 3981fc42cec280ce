package acme

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// Directory URLs of well-known CAs.
const (
	// LetsEncryptURL is the directory of Let's Encrypt's production CA,
	// whose certificates browsers trust.
	LetsEncryptURL = "https://acme-v02.api.letsencrypt.org/directory"
	// LetsEncryptStagingURL is the directory of Let's Encrypt's staging
	// CA: the same software and rate limits far higher, but certificates
	// from an untrusted root. Use it to test a setup.
	LetsEncryptStagingURL = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// DirectoryAliases returns the short names ResolveDirectory accepts for
// directory URLs: "letsencrypt" and "letsencrypt-staging". It returns a
// new map on every call.
func DirectoryAliases() map[string]string {
	return map[string]string{
		"letsencrypt":         LetsEncryptURL,
		"letsencrypt-staging": LetsEncryptStagingURL,
	}
}

// ResolveDirectory turns what a user wrote for a CA, an alias from
// DirectoryAliases or a directory URL, into a directory URL (RFC 8555
// §7.1.1). A URL must be absolute, http or https, without user
// information or fragment; its scheme and host are lower-cased, and a
// default port is dropped, so that one CA spelled two ways is one CA.
// Any other input is an error that lists the aliases.
func ResolveDirectory(s string) (string, error) {
	if u, ok := DirectoryAliases()[strings.ToLower(strings.TrimSpace(s))]; ok {
		return u, nil
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		names := slices.Sorted(maps.Keys(DirectoryAliases()))
		return "", fmt.Errorf("acme: CA %q is neither a directory URL (https://…) nor one of %s", s, strings.Join(names, ", "))
	}
	if u.User != nil || u.Fragment != "" {
		return "", fmt.Errorf("acme: CA directory URL %q must not hold user information or a fragment", s)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		u.Host = strings.TrimSuffix(u.Host, ":"+p)
	}
	return u.String(), nil
}
