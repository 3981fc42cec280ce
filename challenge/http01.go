package challenge

// HTTP01Prefix is the path under which the CA fetches http-01 responses
// (RFC 8555 §8.3).
const HTTP01Prefix = "/.well-known/acme-challenge/"

// maxTokenLen bounds the tokens ValidToken accepts. RFC 8555 §8.1 asks for
// at least 128 bits of entropy (22 characters); CAs send 43. The bound
// keeps a hostile server from making a solver write or store huge names.
const maxTokenLen = 256

// HTTP01Path returns the path the CA fetches for an http-01 challenge
// with the given token (RFC 8555 §8.3). It does not check the token: call
// ValidToken before using it as a file name.
func HTTP01Path(token string) string {
	return HTTP01Prefix + token
}

// ValidToken reports whether token is non-empty, at most 256 bytes long
// and made only of the base64url alphabet (A-Z a-z 0-9 - _, RFC 8555 §8.1
// with no padding). A token that passes is safe to use as a file name and
// a URL path segment: it cannot contain "/", "." or "=".
func ValidToken(token string) bool {
	if token == "" || len(token) > maxTokenLen {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
