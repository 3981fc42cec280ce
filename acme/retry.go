package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retry backoff: transient failures are retried after retryBase, then
// twice as long each time up to retryCap, each wait drawn at random
// between half and all of that (so that many clients do not retry in
// step), and never sooner than the server's Retry-After. There is no
// count: the caller's context deadline ends the retries (see retry).
const (
	retryBase = 250 * time.Millisecond
	retryCap  = 10 * time.Second
)

// defaultRetryBudget bounds the retries of one call whose context has no
// deadline: a call never retries for longer than this after its first
// attempt.
const defaultRetryBudget = 5 * time.Minute

// unreachableBudget is how long a call keeps retrying a CA it cannot
// reach at all (no answer: the connection is refused, there is no route,
// the name does not resolve) before it returns that error: long enough
// for a restart or a failover, short enough that a command says the CA
// is down instead of waiting for its deadline.
const unreachableBudget = 15 * time.Second

// maxInCallRetryAfter is the longest Retry-After a call waits out itself;
// a longer one ends the call at once with a *WaitError carrying it.
const maxInCallRetryAfter = time.Minute

// unreachable reports whether err says the CA could not be reached at
// all: a failed dial or name lookup (not a reset or a timeout of a
// connection that was made).
func unreachable(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// defaultPollSchedule is how long WaitOrder and WaitAuthorization wait
// between polls when the server gave no Retry-After: short at first, since
// Pebble and Boulder usually finish within milliseconds, then the last
// entry repeats.
var defaultPollSchedule = [...]time.Duration{
	10 * time.Millisecond,
	20 * time.Millisecond,
	50 * time.Millisecond,
	100 * time.Millisecond,
	200 * time.Millisecond,
	500 * time.Millisecond,
	1 * time.Second,
}

// maxBadNonceRetries bounds the immediate re-sends after badNonce errors
// (RFC 8555 §6.5: the client should retry with the error's nonce): at most
// 20 re-sends, 21 attempts in all. Each costs one round trip and no sleep;
// 20 in a row happen by chance with probability 2^-20 (about one in a
// million) even at a CA rejecting half of all nonces, as Pebble can be
// told to. The package doc states the same bound.
const maxBadNonceRetries = 20

// pollDelay returns the wait before poll number n (0-based); past the end
// of the schedule the last entry repeats.
func pollDelay(schedule []time.Duration, n int) time.Duration {
	if len(schedule) == 0 {
		return time.Second
	}
	if n >= len(schedule) {
		n = len(schedule) - 1
	}
	if n < 0 {
		n = 0
	}
	return schedule[n]
}

// backoff returns the wait before retry n (0-based) when the server gave
// no later Retry-After: the test schedule if set (its last entry
// repeating), else retryBase doubled n times, capped at retryCap, drawn
// between half and all of it.
func (c *Client) backoff(n int) time.Duration {
	if len(c.retrySchedule) > 0 {
		return c.retrySchedule[min(n, len(c.retrySchedule)-1)]
	}
	d := retryCap
	if n < 16 {
		d = min(retryBase<<n, retryCap)
	}
	return d/2 + rand.N(d/2+1)
}

func (c *Client) polls() []time.Duration {
	if c.pollSchedule != nil {
		return c.pollSchedule
	}
	return defaultPollSchedule[:]
}

// op names one request for errors: the endpoint (as in RequestInfo),
// the method and the URL; account is the kid it is signed with ("" for
// unsigned or jwk-signed requests), and scope what else a rate limit of
// the request may be about (for newOrder, the identifiers ordered), for
// the Retry-After gate.
type op struct {
	endpoint, method, url string
	account               string
	scope                 string
}

// gateKeys are the keys under which a Retry-After given to another call
// holds for o.
func (o op) gateKeys() []string {
	keys := []string{o.url, o.url + "\x00" + o.account}
	if o.scope != "" {
		keys = append(keys, o.url+"\x00"+o.account+"\x00"+o.scope)
	}
	return keys
}

// setGate keeps the Retry-After ra that err (whose problem is p) gave
// to o for other calls: a 5xx's applies to the URL whoever asks (the
// service is unavailable), a 429's to the URL for the same account only
// (RFC 6585: the user sent too many requests), and, when o has a scope,
// to the requests of that scope only, unless several scopes are held
// back at once (memo.setScopedGate).
func (c *Client) setGate(o op, p *Problem, ra time.Time, err error) {
	switch {
	case !p.isRateLimit():
		c.memo.setGate(o.url, ra, err)
	case o.scope != "":
		c.memo.setScopedGate(o.url+"\x00"+o.account, o.scope, ra, err, c.clock())
	default:
		c.memo.setGate(o.url+"\x00"+o.account, ra, err)
	}
}

// retry runs attempt until it succeeds or fails in a way that is not
// transient (see transient). Transient failures are retried with backoff
// (see backoff), never sooner than the server's Retry-After, for as long
// as the caller's context allows: the deadline bounds the retries, not a
// count (a context without a deadline gets defaultRetryBudget). When the
// next attempt could only come after the deadline (a Retry-After beyond
// it, or a backoff longer than what is left), retry fails at once with a
// *WaitError that quotes the wait and wraps the last error; when the
// context ends, with a *WaitError that wraps both the context's error and
// the last error.
func (c *Client) retry(ctx context.Context, o op, attempt func() error) error {
	start := c.clock()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = start.Add(defaultRetryBudget)
	}
	var said retryLog
	var unreachableSince time.Time
	for n := 0; ; n++ {
		// A Retry-After the CA gave another call for this URL holds
		// for this one too.
		if until, last := c.memo.gate(o.gateKeys()...); until.After(c.clock()) {
			now := c.clock()
			if until.After(deadline) {
				return &WaitError{Resource: o.endpoint, Method: o.method, URL: o.url, Status: lastStatus(last),
					Attempts: n, Waited: now.Sub(start), Deadline: deadline, RetryAfter: until, Last: last}
			}
			if serr := sleep(ctx, until.Sub(now)); serr != nil {
				return &WaitError{Resource: o.endpoint, Method: o.method, URL: o.url, Status: lastStatus(last),
					Attempts: n, Waited: c.clock().Sub(start), Err: serr, Last: last}
			}
		}
		err := attempt()
		if err == nil {
			if o.scope != "" {
				c.memo.scopedAccepted(o.url + "\x00" + o.account)
			}
			return nil
		}
		now := c.clock()
		if cerr := ctx.Err(); cerr != nil {
			if n == 0 {
				return err // the only attempt: its error names the request
			}
			return &WaitError{Resource: o.endpoint, Method: o.method, URL: o.url, Status: lastStatus(err),
				Attempts: n + 1, Waited: now.Sub(start), Err: cerr, Last: err}
		}
		if !transient(err) {
			return err
		}
		// A CA that cannot be reached at all (no route, connection
		// refused, a name that does not resolve) is down, not blinking:
		// say so after unreachableBudget rather than at the deadline,
		// which for an order can be many minutes away.
		if unreachable(err) {
			if unreachableSince.IsZero() {
				unreachableSince = now
			} else if now.Sub(unreachableSince) >= unreachableBudget {
				return err
			}
		} else {
			unreachableSince = time.Time{}
		}
		wait := c.backoff(n)
		ra, hasRA := directRetryAfter(err)
		if hasRA {
			wait = max(wait, ra.Sub(now))
			var p *Problem
			errors.As(err, &p)
			c.setGate(o, p, ra, err)
		}
		if hasRA && ra.Sub(now) > maxInCallRetryAfter {
			// Minutes or hours: the caller's to schedule (a daemon
			// keeps it across restarts and other instances, and holds
			// no lock meanwhile), not a call's to sleep through.
			return &WaitError{Resource: o.endpoint, Method: o.method, URL: o.url, Status: lastStatus(err),
				Attempts: n + 1, Waited: now.Sub(start), Deadline: deadline, RetryAfter: ra, Last: err}
		}
		if now.Add(wait).After(deadline) {
			we := &WaitError{Resource: o.endpoint, Method: o.method, URL: o.url, Status: lastStatus(err),
				Attempts: n + 1, Waited: now.Sub(start), Deadline: deadline, Last: err}
			if hasRA && ra.After(deadline) {
				we.RetryAfter = ra
			} else {
				we.Backoff = wait
			}
			return we
		}
		c.logRetry(ctx, &said, n, now, wait, err)
		if serr := sleep(ctx, wait); serr != nil {
			return &WaitError{Resource: o.endpoint, Method: o.method, URL: o.url, Status: lastStatus(err),
				Attempts: n + 1, Waited: c.clock().Sub(start), Err: serr, Last: err}
		}
	}
}

// directRetryAfter is the Retry-After of err's own response: the *Problem
// it is or wraps at its top, not one found deeper (an OrderError's
// challenge errors carry no header).
func directRetryAfter(err error) (time.Time, bool) {
	var p *Problem
	if errors.As(err, &p) && !p.RetryAfter.IsZero() {
		return p.RetryAfter, true
	}
	return time.Time{}, false
}

// lastStatus describes what the last attempt got, for a *WaitError: the
// HTTP status code, or "no response".
func lastStatus(err error) string {
	var p *Problem
	if errors.As(err, &p) && p.Status != 0 {
		return strconv.Itoa(p.Status) + " " + http.StatusText(p.Status)
	}
	var te *transportError
	if errors.As(err, &te) {
		return "no response"
	}
	return ""
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// transient reports whether err, from one attempt, is worth another with
// the same request: a transport error (connection refused or reset, EOF,
// a timeout, an HTTP/2 stream error; not a failure to verify the CA's
// certificate, nor a redirect refused), a 5xx other than 501 Not
// Implemented, a 408 or a 429. Any other error response is the CA's
// refusal and is not retried; nor are errors of this package's own
// (malformed or mismatched objects, *WaitError).
func transient(err error) bool {
	var we *WaitError
	if errors.As(err, &we) {
		return false
	}
	var re *RedirectError
	if errors.As(err, &re) {
		return false
	}
	var te *transportError
	if errors.As(err, &te) {
		return !isCertificateError(err)
	}
	var p *Problem
	if errors.As(err, &p) {
		return transientProblem(p)
	}
	return false
}

// transientProblem reports whether an error response is worth retrying.
func transientProblem(p *Problem) bool {
	switch {
	case p.Status == http.StatusNotImplemented:
		return false
	case p.Status >= 500, p.Status == http.StatusTooManyRequests, p.Status == http.StatusRequestTimeout:
		return true
	case p.Status >= 400:
		return p.Type == ProblemRateLimited
	}
	return p.Type == ProblemServerInternal || p.Type == ProblemRateLimited
}

func isCertificateError(err error) bool {
	var (
		e1 x509.UnknownAuthorityError
		e2 x509.CertificateInvalidError
		e3 x509.HostnameError
		e4 *tls.CertificateVerificationError
	)
	return errors.As(err, &e1) || errors.As(err, &e2) || errors.As(err, &e3) || errors.As(err, &e4)
}

// maxRetryAfterSeconds caps delta-seconds so that the addition cannot
// overflow time.Time.
const maxRetryAfterSeconds = 10 * 365 * 24 * 3600

// parseRetryAfter parses a Retry-After header value (RFC 9110 §10.2.3):
// either delta-seconds or an HTTP-date. It returns the absolute time and
// whether the value was valid. An HTTP-date in the past is returned as is.
func parseRetryAfter(v string, now time.Time) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return time.Time{}, false
			}
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > maxRetryAfterSeconds {
			n = maxRetryAfterSeconds // only overflow fails: all digits
		}
		return now.Add(time.Duration(n) * time.Second), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// headerRetryAfter parses the Retry-After header of h, zero if absent or
// invalid.
func headerRetryAfter(h http.Header, now time.Time) time.Time {
	t, _ := parseRetryAfter(h.Get("Retry-After"), now)
	return t
}
