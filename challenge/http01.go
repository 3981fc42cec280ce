package challenge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/certkeeper/certkeeper/acme"
)

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

// maxHTTP01Body is how much of a response CheckHTTP01 reads. A key
// authorization is under 200 bytes; the CA reads little more.
const maxHTTP01Body = 64 << 10

// httpTrailingSpace is what RFC 8555 §8.3 lets the server ignore at the
// end of the body (Pebble trims the same set).
const httpTrailingSpace = " \t\r\n"

// CheckHTTP01 fetches http://<identifier>/.well-known/acme-challenge/<token>
// as the CA would and reports an error unless the response is 200 with the
// key authorization as its body (trailing whitespace ignored, §8.3).
//
// client may be nil (a client without a timeout is then used, so ctx
// should carry a deadline); redirects follow the client's policy. If addr
// is not empty the request is sent to that host:port instead, keeping the
// identifier in the Host header: use it to test a server before DNS points
// at it, or one listening on a port other than 80.
func CheckHTTP01(ctx context.Context, client *http.Client, chal acme.Challenge, addr string) error {
	if chal.Type != "" && chal.Type != acme.ChallengeHTTP01 {
		return fmt.Errorf("http-01 self-check: challenge type is %q", chal.Type)
	}
	if !ValidToken(chal.Token) {
		return fmt.Errorf("http-01 self-check: token %q is not base64url", chal.Token)
	}
	if chal.Identifier.Value == "" {
		return errors.New("http-01 self-check: challenge has no identifier")
	}
	if client == nil {
		client = &http.Client{}
	}
	host := hostForURL(chal.Identifier.Value)
	u := url.URL{Scheme: "http", Host: host, Path: HTTP01Path(chal.Token)}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("http-01 self-check: %w", err)
	}
	where := u.String()
	if addr != "" {
		req.URL.Host = addr
		req.Host = host
		where = fmt.Sprintf("%s (sent to %s)", u.String(), addr)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("http-01 self-check: GET %s: %w", where, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTP01Body))
	if err != nil {
		return fmt.Errorf("http-01 self-check: GET %s: reading body: %w", where, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("http-01 self-check: GET %s: got status %s, want 200 OK", where, resp.Status)
	}
	got := strings.TrimRight(string(body), httpTrailingSpace)
	if got != chal.KeyAuthorization {
		return fmt.Errorf("http-01 self-check: GET %s: got body %q, want key authorization %q", where, truncate(got, 200), chal.KeyAuthorization)
	}
	return nil
}

// hostForURL brackets IPv6 literals so that they can be a URL host.
func hostForURL(v string) string {
	if strings.Contains(v, ":") {
		return "[" + v + "]"
	}
	return v
}

// joinHostPort is net.JoinHostPort, kept here so that callers read well.
func joinHostPort(host, port string) string { return net.JoinHostPort(host, port) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
