package acme

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// WaitError is returned when a call ends without the awaited result
// because of time: its context ended while it was retrying a request or
// polling a resource, or the next attempt could only come after the
// context's deadline (the CA's Retry-After lies beyond it, or the backoff
// is longer than what is left), in which case the call fails at once
// rather than sleep into the deadline. It names what was awaited, the last
// status seen and for how long.
//
// errors.Is(err, context.DeadlineExceeded) holds when the deadline passed
// (or a poll would only come after it); the last request's error, a
// *Problem for an error response, is wrapped too, so that IsRateLimited,
// IsRetryable and RetryAfter see it.
type WaitError struct {
	// Resource is what was awaited: "order" or "authorization" for a
	// poll, else the endpoint of the request (as in RequestInfo).
	Resource string
	// Method is the HTTP method of a request; empty for a poll.
	Method string
	URL    string
	// Status is the last status seen: the resource's ("processing") for
	// a poll, the HTTP status ("503 Service Unavailable") or "no
	// response" for a request.
	Status string
	// Attempts counts the polls or requests made; Waited is the time
	// from the first to the end.
	Attempts int
	Waited   time.Duration
	// RetryAfter, when set, is the time the CA asked for, beyond
	// Deadline: the call did not wait.
	RetryAfter time.Time
	// Backoff, when set, is the next wait, which would have passed
	// Deadline: the call did not wait.
	Backoff  time.Duration
	Deadline time.Time
	// Err is the context's error, or context.DeadlineExceeded when a
	// poll could only come after the deadline; nil when a request gave
	// up early (RetryAfter or Backoff set), Last then saying why.
	Err error
	// Last is the error of the last request, nil for a poll that ended
	// on the deadline.
	Last error
}

// Error says what was awaited, how long and how often, the last status
// and error, and why the wait ended.
func (e *WaitError) Error() string {
	var b strings.Builder
	what := e.Resource
	if e.Method != "" {
		what = e.Method + " " + e.URL + " (" + e.Resource + ")"
	} else {
		what += " " + e.URL
	}
	switch {
	case !e.RetryAfter.IsZero() && !e.RetryAfter.After(e.Deadline):
		fmt.Fprintf(&b, "acme: %s: the CA's Retry-After asks to wait until %s, longer than a call waits: not waiting; retry then",
			what, e.RetryAfter.UTC().Format(time.RFC3339))
	case !e.RetryAfter.IsZero():
		fmt.Fprintf(&b, "acme: %s: the CA's Retry-After asks to wait until %s, %s past the deadline %s: not waiting",
			what, e.RetryAfter.UTC().Format(time.RFC3339), roundDur(e.RetryAfter.Sub(e.Deadline)), e.Deadline.UTC().Format(time.RFC3339))
	case e.Backoff > 0:
		fmt.Fprintf(&b, "acme: gave up on %s after %s and %d attempts: the next retry (in %s) would pass the deadline %s",
			what, roundDur(e.Waited), e.Attempts, roundDur(e.Backoff), e.Deadline.UTC().Format(time.RFC3339))
	default:
		noun := "attempts"
		if e.Method == "" {
			noun = "polls"
		}
		fmt.Fprintf(&b, "acme: gave up waiting for %s after %s and %d %s", what, roundDur(e.Waited), e.Attempts, noun)
	}
	if e.Status != "" {
		if e.Method == "" {
			fmt.Fprintf(&b, "; its status is still %q", e.Status)
		} else {
			fmt.Fprintf(&b, "; last status %s", e.Status)
		}
	}
	if e.Last != nil {
		fmt.Fprintf(&b, "; last error: %v", e.Last)
	}
	if e.Err != nil && e.RetryAfter.IsZero() { // "not waiting" said it
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns Err and Last (those set).
func (e *WaitError) Unwrap() []error {
	var errs []error
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.Last != nil {
		errs = append(errs, e.Last)
	}
	return errs
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// RedirectError is returned when the CA answers a signed POST with a
// redirect (3xx). The redirect is not followed: a signed request goes
// only to the URL it was signed for (RFC 8555 §6.4), never re-sent
// elsewhere nor turned into a GET. Unauthenticated GETs (the directory,
// renewal information) follow up to maxRedirects redirects, never from
// https to http; more is a RedirectError too.
type RedirectError struct {
	Method string
	URL    string
	// Status is the redirect's status code (301, 302, 303, 307, 308...).
	Status int
	// Location is the redirect's target, resolved against URL; empty
	// when the response had none.
	Location string
	// Reason says why it was not followed.
	Reason string
}

// Error names the request, the redirect and its Location.
func (e *RedirectError) Error() string {
	loc := e.Location
	if loc == "" {
		loc = "(no Location)"
	}
	return fmt.Sprintf("acme: %s %s was answered with a redirect, %d %s, to %s: not followed: %s",
		e.Method, trimURL(e.URL), e.Status, http.StatusText(e.Status), trimURL(loc), e.Reason)
}

// MismatchError is returned when an object the CA returned is not the one
// asked for: a challenge answer of another type, URL or token than the
// challenge answered, an order whose identifiers are not those requested,
// an authorization for an identifier its order does not have. Nothing in
// the object is used.
type MismatchError struct {
	// Resource is "challenge", "order" or "authorization"; URL is the
	// one requested.
	Resource string
	URL      string
	// Field is what differs ("type", "url", "token", "identifiers",
	// "identifier"); Want is what was asked for, Got what the CA sent.
	Field string
	Want  string
	Got   string
}

// Error says which object was refused, what differs and how.
func (e *MismatchError) Error() string {
	return fmt.Sprintf("acme: refusing the CA's answer for %s %s: its %s is %s, but %s was asked for",
		e.Resource, trimURL(e.URL), e.Field, e.Got, e.Want)
}

// unsupportedError is a 501 Not Implemented answer: the CA does not offer
// what was asked. It unwraps to the *Problem and errors.ErrUnsupported.
type unsupportedError struct {
	feature, url string
	p            *Problem
}

func (e *unsupportedError) Error() string {
	return fmt.Sprintf("acme: the CA does not support %s (%s answered 501 Not Implemented; not retried): %v",
		e.feature, trimURL(e.url), e.p)
}

func (e *unsupportedError) Unwrap() []error { return []error{e.p, errors.ErrUnsupported} }

// feature names what a request to endpoint asks of the CA, for errors.
func feature(endpoint string) string {
	switch endpoint {
	case "keyChange":
		return "account key rollover (keyChange, RFC 8555 §7.3.5)"
	case "revokeCert":
		return "revocation (revokeCert, RFC 8555 §7.6)"
	case "renewalInfo":
		return "renewal information (ARI, RFC 9773)"
	case "newAccount":
		return "account registration or lookup (newAccount)"
	case "account":
		return "account updates or deactivation"
	case "authz":
		return "this authorization request (fetch or deactivation)"
	case "newOrder":
		return "this order (newOrder)"
	case "newNonce":
		return "newNonce with HEAD"
	case "":
		return "this request"
	}
	return "this " + endpoint + " request"
}
