package acme

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/internal/progress"
)

// The Client says at Info level on its Logger what a wait longer than a
// second waits for (see package internal/progress for the pace):
//
//   - "the CA has not answered yet": a request without an answer after
//     caSilence, then every few seconds (endpoint, url, waited);
//   - "the CA request failed; retrying": a retry (reason, attempt,
//     next_in, retry_after when the CA's Retry-After sets the wait);
//   - "waiting for the CA to validate" or "… to issue the certificate":
//     the polls of WaitOrder and WaitAuthorization (name, status, waited,
//     next_in, retry_after).

// caSilence is how long a request waits for the CA's answer before it
// says so.
const caSilence = 5 * time.Second

// watchRequest says that the CA has not answered a request yet, after
// caSilence and then periodically, until the returned stop is called.
func (c *Client) watchRequest(ctx context.Context, endpoint, url string) (stop func()) {
	return progress.Watch(ctx, c.log, caSilence, "the CA has not answered yet",
		slog.String("endpoint", endpoint), slog.String("url", url))
}

// retryLog paces the retry lines of one call: the first retry, those
// after a wait of a second or more, and the others when no line was said
// for a while go to Info, the rest to Debug.
type retryLog struct{ last time.Time }

// logRetry says that retry n (0-based) of a call comes after wait,
// reckoned at now, because of err.
func (c *Client) logRetry(ctx context.Context, rl *retryLog, n int, now time.Time, wait time.Duration, err error) {
	level := slog.LevelDebug
	if n == 0 || wait >= progress.Threshold || now.Sub(rl.last) >= progress.Gap {
		level = slog.LevelInfo
		rl.last = now
	}
	attrs := []slog.Attr{slog.String("reason", retryReason(err)), slog.Int("attempt", n+1), progress.NextIn(wait)}
	var te *transportError
	if errors.As(err, &te) {
		attrs = append(attrs, slog.String("url", te.url))
	}
	if ra, ok := RetryAfter(err); ok && ra.Sub(now) >= wait {
		attrs = append(attrs, slog.Time("retry_after", ra))
	}
	c.log.LogAttrs(ctx, level, "the CA request failed; retrying", attrs...)
}

// retryReason is what went wrong, without the request (the line names it).
func retryReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	var te *transportError
	if errors.As(err, &te) {
		return te.err.Error()
	}
	return strings.TrimPrefix(err.Error(), "acme: ")
}

// pollLog paces the lines of one WaitOrder or WaitAuthorization.
type pollLog struct {
	th       *progress.Throttle
	resource string // "order" or "authorization"
	url      string
}

func (c *Client) newPollLog(resource, url string) *pollLog {
	return &pollLog{th: progress.NewThrottle(c.clock()), resource: resource, url: url}
}

// logPoll logs, when due, that poll n (0-based) of a resource with the
// given names and status waits d before the next, retryAfter being the
// CA's Retry-After (zero if none).
func (c *Client) logPoll(ctx context.Context, pl *pollLog, n int, names string, status Status, d time.Duration, retryAfter time.Time) {
	now := c.clock()
	if !pl.th.Due(now, d) {
		return
	}
	msg := "waiting for the CA to validate"
	if status == StatusProcessing {
		msg = "waiting for the CA to issue the certificate"
	}
	attrs := []slog.Attr{
		slog.String("name", names), slog.String("status", string(status)),
		slog.String(pl.resource, pl.url),
		progress.Waited(pl.th.Waited(now)), progress.NextIn(d),
	}
	if !retryAfter.IsZero() && d > pollDelay(c.polls(), n) {
		attrs = append(attrs, slog.Time("retry_after", retryAfter))
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, msg, attrs...)
}

// identifierNames joins the values of ids, for a log line.
func identifierNames(ids []Identifier) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = id.Value
	}
	return strings.Join(names, ", ")
}

// authorizationName is a's identifier as the user wrote it: with "*."
// for a wildcard.
func authorizationName(a Authorization) string {
	if a.Wildcard && !strings.HasPrefix(a.Identifier.Value, "*.") {
		return "*." + a.Identifier.Value
	}
	return a.Identifier.Value
}
