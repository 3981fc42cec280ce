package http01

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// maxHTTP01Body is how much of a response SelfCheck reads. A key
// authorization is under 200 bytes; the CA reads little more.
const maxHTTP01Body = 64 << 10

// httpTrailingSpace is what RFC 8555 §8.3 lets the server ignore at the
// end of the body (Pebble trims the same set).
const httpTrailingSpace = " \t\r\n"

// SelfCheck fetches http://<identifier>/.well-known/acme-challenge/<token>
// as the CA would and reports an error unless the response is 200 with the
// key authorization as its body (trailing whitespace ignored, §8.3).
//
// client may be nil (a client without a timeout is then used, so ctx
// should carry a deadline); redirects follow the client's policy. If addr
// is not empty the request is sent to that host:port instead, keeping the
// identifier in the Host header: use it to test a server before DNS points
// at it, or one listening on a port other than 80.
func SelfCheck(ctx context.Context, client *http.Client, chal acme.Challenge, addr string) error {
	if chal.Type != "" && chal.Type != acme.ChallengeHTTP01 {
		return fmt.Errorf("http-01 self-check: challenge type is %q", chal.Type)
	}
	if !challenge.ValidToken(chal.Token) {
		return fmt.Errorf("http-01 self-check: token %q is not base64url", chal.Token)
	}
	if chal.Identifier.Value == "" {
		return errors.New("http-01 self-check: challenge has no identifier")
	}
	if client == nil {
		client = &http.Client{}
	}
	host := hostForURL(chal.Identifier.Value)
	u := url.URL{Scheme: "http", Host: host, Path: challenge.HTTP01Path(chal.Token)}
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
