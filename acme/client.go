package acme

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Body size limits. A CA never needs more than this for one JSON object or
// one PEM chain; a larger body is refused rather than buffered.
const (
	maxJSONBody  = 1 << 20
	maxChainBody = 1 << 20
)

const (
	baseUserAgent = "certkeeper-acme/1"

	contentTypeJOSE  = "application/jose+json"
	contentTypeChain = "application/pem-certificate-chain"
)

// Client speaks RFC 8555 to one CA. It holds no account: every call that
// needs one takes it as an argument, so one Client serves many accounts.
//
// A Client is safe for concurrent use. Its exported fields must not be
// changed after the first call.
type Client struct {
	// DirectoryURL is the CA's directory URL (RFC 8555 §7.1.1). Required.
	DirectoryURL string

	// HTTPClient sends the requests. Nil means a client of the Client's own
	// (never http.DefaultClient) with dial, TLS and response-header
	// timeouts; the caller's context bounds each call as a whole. The
	// Client uses a copy whose CheckRedirect never lets a signed POST (or
	// its body) follow a redirect, and lets the unsigned GETs and HEADs
	// follow at most 5, never from https to http; HTTPClient's own
	// CheckRedirect, if any, is consulted after that.
	HTTPClient *http.Client

	// UserAgent, if set, is appended to "certkeeper-acme/1" in the
	// User-Agent header of every request (RFC 8555 §6.1).
	UserAgent string

	// Logger receives debug records of each HTTP exchange, and at Info
	// level the progress of every wait longer than a second: a CA slow
	// to answer, retries (with the reason, the attempt and when the next
	// comes) and the polls of WaitOrder and WaitAuthorization. Nil
	// discards them.
	Logger *slog.Logger

	// OnRequest, if set, is called after every HTTP exchange with the CA,
	// including failed ones (for metrics and benchmarks). It is called
	// synchronously, possibly from several goroutines at once, and must
	// not block.
	OnRequest func(RequestInfo)

	initOnce sync.Once
	http     *http.Client
	log      *slog.Logger

	// dirSem serializes directory fetches: a one-slot semaphore rather
	// than a mutex so that a caller waiting for another's fetch still
	// honours its ctx. dir is the cached directory once fetched.
	dirSem chan struct{}
	dir    atomic.Pointer[Directory]

	nonces noncePool

	// memo keeps per-URL Retry-After times and order identifiers for
	// later checks and waits.
	memo memo

	// orderWait holds running estimates, in nanoseconds, of how long this
	// CA takes to finish an order step, by orderStep (validation,
	// issuance); WaitOrder makes its first poll after it. See firstPoll.
	orderWait [2]atomic.Int64
	// answerTime holds running estimates, in nanoseconds, of how long
	// this CA takes to answer the request that starts each orderStep (a
	// challenge answer, finalize); they lower the floor of firstPoll.
	answerTime [2]atomic.Int64
	// noEarlyFinalize is set once the CA answered the finalize of a
	// pending order with something other than orderNotReady, or an order
	// finalized early ended invalid with no authorization failed: from
	// then on FinalizeWhenReady waits to see the order ready.
	noEarlyFinalize atomic.Bool

	// retrySchedule overrides defaultRetrySchedule (tests).
	retrySchedule []time.Duration
	// pollSchedule overrides defaultPollSchedule (tests).
	pollSchedule []time.Duration
	// now overrides time.Now (tests).
	now func() time.Time
}

// RequestInfo describes one HTTP exchange with the CA, passed to
// Client.OnRequest.
type RequestInfo struct {
	Method string
	URL    string
	// Endpoint names the resource: "directory", "newNonce", "newAccount",
	// "account", "keyChange", "newOrder", "order", "authz", "challenge",
	// "finalize", "cert", "revokeCert" or "renewalInfo".
	Endpoint string
	// Status is the HTTP status code, 0 when no response arrived.
	Status   int
	Duration time.Duration
	// Err is the transport error, nil when a response arrived (whatever
	// its status).
	Err error
}

func (c *Client) init() {
	c.initOnce.Do(func() {
		hc := c.HTTPClient
		if hc == nil {
			hc = newHTTPClient()
		}
		cp := *hc
		cp.CheckRedirect = checkRedirect(hc.CheckRedirect)
		c.http = &cp
		c.log = c.Logger
		if c.log == nil {
			c.log = slog.New(slog.DiscardHandler)
		}
		c.dirSem = make(chan struct{}, 1)
	})
}

func newHTTPClient() *http.Client {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		// A ceiling for callers that pass a context without a deadline.
		Timeout: 5 * time.Minute,
	}
}

// maxRedirects bounds the redirects an unsigned GET or HEAD follows.
const maxRedirects = 5

// errRedirectRefused marks a redirect that checkRedirect did not follow;
// do turns the response into a *RedirectError.
var errRedirectRefused = errors.New("acme: redirect refused")

// checkRedirect is the CheckRedirect of the Client's http.Client. A signed
// POST is never redirected: http.Client would re-send its body, signed for
// another URL and with a spent nonce, on a 307 or 308, and turn it into a
// GET on a 301, 302 or 303. The last response is returned instead and the
// request fails with a *RedirectError. GETs and HEADs follow at most
// maxRedirects, never from https to http, then next (if not nil) decides.
func checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		orig := via[0]
		if orig.Method != http.MethodGet && orig.Method != http.MethodHead {
			return http.ErrUseLastResponse
		}
		prev := via[len(via)-1]
		if prev.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return &RedirectError{Method: orig.Method, URL: orig.URL.String(), Status: redirectStatus(req), Location: req.URL.String(),
				Reason: "it leaves https"}
		}
		if len(via) > maxRedirects {
			return &RedirectError{Method: orig.Method, URL: orig.URL.String(), Status: redirectStatus(req), Location: req.URL.String(),
				Reason: fmt.Sprintf("more than %d redirects", maxRedirects)}
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

// redirectStatus is the status code of the redirect that led to req.
func redirectStatus(req *http.Request) int {
	if req.Response != nil {
		return req.Response.StatusCode
	}
	return 0
}

// isRedirect reports whether status is a redirect (3xx other than 304).
func isRedirect(status int) bool {
	return status >= 300 && status < 400 && status != http.StatusNotModified
}

func (c *Client) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (c *Client) userAgent() string {
	if c.UserAgent == "" {
		return baseUserAgent
	}
	return baseUserAgent + " " + c.UserAgent
}

// response is a fully read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
	// url is the request URL, the base for relative Location and Link
	// references.
	url *url.URL
}

// location returns the Location header resolved against the request URL.
func (r *response) location() string {
	loc := r.header.Get("Location")
	if loc == "" {
		return ""
	}
	return resolveRef(r.url, loc)
}

func resolveRef(base *url.URL, ref string) string {
	u, err := url.Parse(ref)
	if err != nil || base == nil {
		return ref
	}
	return base.ResolveReference(u).String()
}

// errBodyTooLarge is wrapped when a response body exceeds its limit.
var errBodyTooLarge = errors.New("acme: response body too large")

// transportError is a failure to get any response from the CA. The request
// may or may not have reached the server.
type transportError struct {
	method, url string
	err         error
}

func (e *transportError) Error() string {
	return fmt.Sprintf("acme: %s %s: %v", e.method, e.url, e.err)
}

func (e *transportError) Unwrap() error { return e.err }

// do sends one request and reads the whole response (within limit). It
// pools any Replay-Nonce, reports the exchange to OnRequest, and returns a
// *transportError when no complete response arrived. It does not look at
// the status code.
func (c *Client) do(ctx context.Context, endpoint, method, rawURL string, body []byte, accept string, limit int64) (*response, error) {
	c.init()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return nil, fmt.Errorf("acme: %s %s: %w", method, rawURL, err)
	}
	req.Header.Set("User-Agent", c.userAgent())
	if body != nil {
		req.Header.Set("Content-Type", contentTypeJOSE)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}

	start := time.Now()
	stop := c.watchRequest(ctx, endpoint, rawURL)
	resp, err := c.http.Do(req)
	var r *response
	if err == nil {
		r, err = readResponse(resp, limit)
		r.url = req.URL
	}
	stop()
	info := RequestInfo{Method: method, URL: rawURL, Endpoint: endpoint, Duration: time.Since(start)}
	if resp != nil {
		info.Status = resp.StatusCode
		if endpoint != "newNonce" || !isSuccess(resp.StatusCode) {
			// A successful newNonce's nonce is its caller's (see nonce).
			c.nonces.put(resp.Header.Get("Replay-Nonce"))
		}
	}
	if err != nil && !errors.Is(err, errBodyTooLarge) {
		err = &transportError{method: method, url: rawURL, err: err}
		info.Err = err
	}
	if err == nil && isSuccess(info.Status) {
		switch endpoint {
		case "challenge":
			c.noteAnswer(stepValidation, info.Duration)
		case "finalize":
			c.noteAnswer(stepIssuance, info.Duration)
		}
	}
	if c.OnRequest != nil {
		c.OnRequest(info)
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "acme request",
		slog.String("method", method), slog.String("url", rawURL),
		slog.String("endpoint", endpoint), slog.Int("status", info.Status),
		slog.Duration("duration", info.Duration), slog.Any("err", err))
	if err != nil {
		return nil, err
	}
	return r, nil
}

func readResponse(resp *http.Response, limit int64) (*response, error) {
	defer resp.Body.Close()
	r := &response{status: resp.StatusCode, header: resp.Header}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return r, err
	}
	if int64(len(b)) > limit {
		return r, fmt.Errorf("%w: more than %d bytes from %s", errBodyTooLarge, limit, resp.Request.URL)
	}
	r.body = b
	return r, nil
}

// isSuccess reports whether the status is 2xx.
func isSuccess(status int) bool { return status >= 200 && status < 300 }

// trimURL shortens a URL for error messages.
func trimURL(u string) string {
	if len(u) > 200 {
		return u[:200] + "…"
	}
	return strings.TrimSpace(u)
}

// request is one signed POST (RFC 8555 §6.2).
type request struct {
	endpoint string // for RequestInfo
	url      string
	key      crypto.Signer
	kid      string // empty: embed the jwk
	// payload is the JSON body; nil means POST-as-GET (§6.3).
	payload []byte
	accept  string
	limit   int64
	// scope is what a rate limit of this request may be about besides
	// the account (see op.scope): for newOrder, the identifiers.
	scope string
	// idempotent requests are re-sent after a transport error or a 5xx.
	// For the others, reread (if set) is called first to learn whether the
	// server acted on the lost request; done=true ends the call with a nil
	// response, the caller having kept what reread found.
	idempotent bool
	reread     func(ctx context.Context) (done bool, err error)
}

// post signs and sends r until it gets a 2xx response. badNonce is re-sent
// at once with the nonce of the error response (at most
// maxBadNonceRetries times); transient failures (transport errors, 5xx
// other than 501, 429) follow c.retry, until the context's deadline; a
// redirect is a *RedirectError, never followed; any other error response
// ends the call as a *Problem (a 501 wrapped to say what the CA does not
// support). Each attempt signs afresh with a new nonce.
func (c *Client) post(ctx context.Context, r request) (*response, error) {
	if r.limit == 0 {
		r.limit = maxJSONBody
	}
	var (
		out       *response
		badNonces int
		lost      bool // an earlier attempt got no response
	)
	err := c.retry(ctx, op{r.endpoint, http.MethodPost, r.url, r.kid, r.scope}, func() error {
		for {
			if lost && !r.idempotent && r.reread != nil {
				done, err := r.reread(ctx)
				if err != nil {
					return err
				}
				if done {
					out = nil
					return nil
				}
			}
			nonce, err := c.nonce(ctx)
			if err != nil {
				return err
			}
			claimable := r.endpoint != "finalize"
			if !claimable {
				// A CA may issue before it answers (Boulder does): no
				// other request waits seconds for this answer's nonce.
				c.nonces.settle()
			}
			body, err := signJWS(jwsParams{key: r.key, kid: r.kid, nonce: nonce, url: r.url}, r.payload)
			if err != nil {
				if claimable {
					c.nonces.settle()
				}
				return err
			}
			resp, err := c.do(ctx, r.endpoint, http.MethodPost, r.url, body, r.accept, r.limit)
			if claimable {
				c.nonces.settle() // after do has pooled the answer's nonce
			}
			if err != nil {
				var te *transportError
				lost = lost || errors.As(err, &te)
				return err
			}
			if isSuccess(resp.status) {
				out = resp
				return nil
			}
			if isRedirect(resp.status) {
				return &RedirectError{Method: http.MethodPost, URL: r.url, Status: resp.status, Location: resp.location(),
					Reason: "a signed request is sent only to the URL it was signed for"}
			}
			p := responseProblem(resp, c.clock())
			// A 5xx may come from a proxy that gave up while the CA
			// went on to act: treat it like a lost response.
			lost = lost || p.Status >= 500
			if p.Type == ProblemBadNonce && badNonces < maxBadNonceRetries {
				badNonces++
				continue
			}
			if p.Status == http.StatusNotImplemented {
				return &unsupportedError{feature: feature(r.endpoint), url: r.url, p: p}
			}
			return p
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// errorResponse turns a non-2xx answer to an unsigned request into an
// error: a *Problem, wrapped to say what the CA does not support for a 501.
func (c *Client) errorResponse(endpoint, url string, r *response) error {
	p := responseProblem(r, c.clock())
	if p.Status == http.StatusNotImplemented {
		return &unsupportedError{feature: feature(endpoint), url: url, p: p}
	}
	return p
}

// postAsGet fetches a resource with POST-as-GET (RFC 8555 §6.3), signed
// with the account's kid.
func (c *Client) postAsGet(ctx context.Context, endpoint string, acct Account, url, accept string, limit int64) (*response, error) {
	if err := checkAccount(acct); err != nil {
		return nil, err
	}
	if url == "" {
		return nil, fmt.Errorf("acme: empty %s URL", endpoint)
	}
	return c.post(ctx, request{
		endpoint: endpoint, url: url, key: acct.Key, kid: acct.URL,
		accept: accept, limit: limit, idempotent: true,
	})
}

func checkAccount(acct Account) error {
	if acct.Key == nil {
		return errors.New("acme: account has no key")
	}
	if acct.URL == "" {
		return errors.New("acme: account has no URL (register or look it up first)")
	}
	return nil
}
