package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// defaultRetrySchedule is how long to wait before each retry of a request
// that failed with a transport error, a 5xx or a 429. Its length bounds the
// number of retries. A server's Retry-After, when later, wins.
var defaultRetrySchedule = [...]time.Duration{
	250 * time.Millisecond,
	500 * time.Millisecond,
	1 * time.Second,
	2 * time.Second,
	4 * time.Second,
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
// (RFC 8555 §6.5: the client should retry with the error's nonce). Each
// costs one round trip and no sleep; 30 in a row happen by chance with
// probability 2^-30 even at a CA rejecting half of all nonces.
const maxBadNonceRetries = 30

// maxRetryWait is the longest a single call sleeps for a Retry-After. A CA
// that asks for more (rate limits often say hours) gets its *Problem
// returned at once, RetryAfter set, for the caller to schedule.
const maxRetryWait = time.Minute

// retryDelay returns the backoff before retry number n (0-based) and
// whether retry n is allowed at all.
func retryDelay(schedule []time.Duration, n int) (time.Duration, bool) {
	if n < 0 || n >= len(schedule) {
		return 0, false
	}
	return schedule[n], true
}

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

func (c *Client) retries() []time.Duration {
	if c.retrySchedule != nil {
		return c.retrySchedule
	}
	return defaultRetrySchedule[:]
}

func (c *Client) polls() []time.Duration {
	if c.pollSchedule != nil {
		return c.pollSchedule
	}
	return defaultPollSchedule[:]
}

// waitFor returns how long to wait before retry n after err: the schedule's
// delay, or the time to the server's Retry-After if that is later.
func waitFor(schedule []time.Duration, n int, err error, now time.Time) (time.Duration, bool) {
	d, ok := retryDelay(schedule, n)
	if !ok {
		return 0, false
	}
	if ra, ok := RetryAfter(err); ok {
		if w := ra.Sub(now); w > d {
			d = w
		}
	}
	return d, true
}

// retry runs attempt until it succeeds, fails in a way not worth retrying
// (see shouldRetry), or the retry schedule is exhausted. It never waits
// past ctx, never sooner than a Retry-After, and gives up at once when the
// server asks for more than maxRetryWait or more than ctx has left.
func (c *Client) retry(ctx context.Context, attempt func() error) error {
	var said retryLog
	for n := 0; ; n++ {
		err := attempt()
		if err == nil || !shouldRetry(ctx, err) {
			return err
		}
		now := c.clock()
		wait, ok := waitFor(c.retries(), n, err, now)
		if !ok || wait > maxRetryWait {
			return err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err
		}
		c.logRetry(ctx, &said, n, now, wait, err)
		if serr := sleep(ctx, wait); serr != nil {
			return err
		}
	}
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

// shouldRetry reports whether err, from one attempt, is worth another:
// transport errors (unless ctx is done or the CA's certificate failed
// verification), 5xx and 429 responses.
func shouldRetry(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var te *transportError
	if errors.As(err, &te) {
		return !isCertificateError(err)
	}
	var p *Problem
	if errors.As(err, &p) {
		return p.Status >= 500 || p.Status == http.StatusTooManyRequests || p.Type == ProblemRateLimited || p.Type == ProblemServerInternal
	}
	return false
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
