package http01

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// The rules of the CA's http-01 validation that SelfCheck follows: RFC 8555
// §8.3 and what Let's Encrypt documents of its own (letsencrypt.org,
// "Challenge Types", HTTP-01) and Boulder does.
const (
	// MaxRedirects is how many redirects the CA follows ("up to 10
	// redirects deep").
	MaxRedirects = 10
	// MaxBody is how many bytes of the response Let's Encrypt reads; a body
	// of this size or more is refused. SelfCheck allows more for a key
	// authorization longer than Let's Encrypt's 87 bytes (see bodyLimit).
	MaxBody = 128
)

// ErrRedirect is wrapped by the error of SelfCheck when the server
// redirects where the CA would not follow: more than MaxRedirects times, to
// a scheme other than http or https, to a port other than 80 or 443, or to
// an IP address.
var ErrRedirect = errors.New("redirect the CA does not follow")

// SelfCheck fetches http://<identifier>/.well-known/acme-challenge/<token>
// the way the CA does and reports an error unless the final response is
// 200 OK with the key authorization as its body, so that a check that
// passes predicts a validation that passes:
//
//   - the request goes to port 80 (or to addr, below), with no proxy;
//   - redirects (301, 302, 303, 307, 308) are followed at most MaxRedirects
//     times, only to http or https URLs on port 80 or 443 and never to an
//     IP address; any other redirect fails with an error wrapping
//     ErrRedirect;
//   - an https target's certificate is not verified (the CA cannot require
//     one: the challenge exists to obtain it);
//   - at most MaxBody bytes of the body are read, and a body that long
//     fails; whitespace at the end of the body is ignored (§8.3) and the
//     rest must equal chal.KeyAuthorization.
//
// If addr (host:port) is not empty, every connection that would go to port
// 80 goes to addr instead, the Host header keeping the identifier: use it
// to test a server before DNS points at it, or one listening on another
// port. Connections to port 443 go to the host the URL names. ctx bounds
// the whole check and should carry a deadline.
//
// An identifier that challenge.CheckIdentifier refuses (not a DNS name or
// an IP address, or a wildcard) is an error before anything is sent.
func SelfCheck(ctx context.Context, chal acme.Challenge, addr string) error {
	var d net.Dialer
	dial := d.DialContext
	if addr != "" {
		dial = func(ctx context.Context, network, hostport string) (net.Conn, error) {
			if _, port, err := net.SplitHostPort(hostport); err == nil && port == "80" {
				hostport = addr
			}
			return d.DialContext(ctx, network, hostport)
		}
	}
	return selfCheck(ctx, chal, addr, dial)
}

// selfCheck is SelfCheck with the connections made by dial (tests route
// every host and port to their own servers). addr only names the server
// in errors.
func selfCheck(ctx context.Context, chal acme.Challenge, addr string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) error {
	if chal.Type != "" && chal.Type != acme.ChallengeHTTP01 {
		return fmt.Errorf("http-01 self-check: challenge type is %q", chal.Type)
	}
	if !challenge.ValidToken(chal.Token) {
		return fmt.Errorf("http-01 self-check: token %q is not base64url", chal.Token)
	}
	if err := challenge.CheckIdentifier(chal.Identifier); err != nil {
		return fmt.Errorf("http-01 self-check: %w", err)
	}
	tr := &http.Transport{
		Proxy:       nil, // the CA connects directly; a library reads no environment
		DialContext: dial,
		// The CA does not verify the certificate of an https redirect
		// target (RFC 8555 §8.3, Let's Encrypt's documentation).
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: checkRedirect}

	u := url.URL{Scheme: "http", Host: hostForURL(chal.Identifier.Value), Path: challenge.HTTP01Path(chal.Token)}
	where := u.String()
	if addr != "" {
		where = fmt.Sprintf("%s (port 80 sent to %s)", where, addr)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("http-01 self-check: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("http-01 self-check: GET %s: %w", where, err)
	}
	defer resp.Body.Close()
	if final := resp.Request.URL.String(); final != u.String() {
		where = fmt.Sprintf("%s, redirected to %s", where, final)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("http-01 self-check: GET %s: got status %s, want 200 OK", where, resp.Status)
	}
	limit := bodyLimit(chal.KeyAuthorization)
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)))
	if err != nil {
		return fmt.Errorf("http-01 self-check: GET %s: reading body: %w", where, err)
	}
	if len(body) >= limit {
		return fmt.Errorf("http-01 self-check: GET %s: body is %d bytes or longer; the CA reads fewer and refuses it", where, limit)
	}
	got := strings.TrimRightFunc(string(body), unicode.IsSpace)
	if got != chal.KeyAuthorization {
		return fmt.Errorf("http-01 self-check: GET %s: got body %q, want key authorization %q", where, got, chal.KeyAuthorization)
	}
	return nil
}

// bodyLimit is the size at which a body is refused: MaxBody, as Let's
// Encrypt, for its 87-byte key authorizations (43-character tokens); for a
// CA whose tokens are longer, the key authorization and 40 bytes of
// trailing whitespace, the margin Let's Encrypt leaves.
func bodyLimit(keyAuth string) int {
	return max(MaxBody, len(keyAuth)+MaxBody-87)
}

// checkRedirect is the CA's redirect policy, as an http.Client's
// CheckRedirect: req is the redirect about to be followed, via the
// requests made so far.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("%w: more than %d redirects", ErrRedirect, MaxRedirects)
	}
	u := req.URL
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: %s is not an http or https URL", ErrRedirect, u)
	}
	if p := u.Port(); p != "" && p != "80" && p != "443" {
		return fmt.Errorf("%w: %s is on port %s; only ports 80 and 443 are followed", ErrRedirect, u, p)
	}
	if net.ParseIP(u.Hostname()) != nil {
		return fmt.Errorf("%w: %s names an IP address", ErrRedirect, u)
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
