package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ProblemType is the "type" URI of an RFC 7807 problem document. The ACME
// error types are listed in RFC 8555 §6.7.
type ProblemType string

// Problem is an RFC 7807 problem document returned by an ACME server
// (RFC 8555 §6.7). It is returned as an error; use errors.As to get it.
type Problem struct {
	Type        ProblemType
	Title       string
	Detail      string
	Status      int
	Instance    string
	Identifier  *Identifier // set on subproblems, §6.7.1
	Subproblems []Problem
	// RetryAfter is the time from the response's Retry-After header, zero
	// when there was none.
	RetryAfter time.Time
}

func (p *Problem) Error() string {
	s := "acme:"
	if p.Status != 0 {
		s += fmt.Sprintf(" %d", p.Status)
	}
	if p.Type != "" && p.Type != "about:blank" {
		s += " " + string(p.Type)
	}
	if p.Identifier != nil {
		s += fmt.Sprintf(" (%s %s)", p.Identifier.Type, p.Identifier.Value)
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	} else if p.Title != "" {
		s += ": " + p.Title
	}
	if p.isRateLimit() {
		s += " (" + rateLimitText(p.RetryAfter) + ")"
	}
	for _, sp := range p.Subproblems {
		s += "; " + sp.Error()
	}
	return s
}

func (p *Problem) isRateLimit() bool {
	return p.Type == ProblemRateLimited || p.Status == http.StatusTooManyRequests
}

// rateLimitText says when to retry after a rate limit, or that the CA
// did not say.
func rateLimitText(t time.Time) string {
	if t.IsZero() {
		return "the CA gave no time to retry after"
	}
	return "retry after " + t.UTC().Format(time.RFC3339)
}

// ACME error types, RFC 8555 §6.7, plus alreadyReplaced (RFC 9773 §5) and
// invalidProfile (draft-ietf-acme-profiles).
const (
	ProblemAccountDoesNotExist     ProblemType = "urn:ietf:params:acme:error:accountDoesNotExist"
	ProblemAlreadyReplaced         ProblemType = "urn:ietf:params:acme:error:alreadyReplaced"
	ProblemAlreadyRevoked          ProblemType = "urn:ietf:params:acme:error:alreadyRevoked"
	ProblemBadCSR                  ProblemType = "urn:ietf:params:acme:error:badCSR"
	ProblemBadNonce                ProblemType = "urn:ietf:params:acme:error:badNonce"
	ProblemBadPublicKey            ProblemType = "urn:ietf:params:acme:error:badPublicKey"
	ProblemBadRevocationReason     ProblemType = "urn:ietf:params:acme:error:badRevocationReason"
	ProblemBadSignatureAlgorithm   ProblemType = "urn:ietf:params:acme:error:badSignatureAlgorithm"
	ProblemCAA                     ProblemType = "urn:ietf:params:acme:error:caa"
	ProblemCompound                ProblemType = "urn:ietf:params:acme:error:compound"
	ProblemConnection              ProblemType = "urn:ietf:params:acme:error:connection"
	ProblemDNS                     ProblemType = "urn:ietf:params:acme:error:dns"
	ProblemExternalAccountRequired ProblemType = "urn:ietf:params:acme:error:externalAccountRequired"
	ProblemIncorrectResponse       ProblemType = "urn:ietf:params:acme:error:incorrectResponse"
	ProblemInvalidContact          ProblemType = "urn:ietf:params:acme:error:invalidContact"
	ProblemInvalidProfile          ProblemType = "urn:ietf:params:acme:error:invalidProfile"
	ProblemMalformed               ProblemType = "urn:ietf:params:acme:error:malformed"
	ProblemOrderNotReady           ProblemType = "urn:ietf:params:acme:error:orderNotReady"
	ProblemRateLimited             ProblemType = "urn:ietf:params:acme:error:rateLimited"
	ProblemRejectedIdentifier      ProblemType = "urn:ietf:params:acme:error:rejectedIdentifier"
	ProblemServerInternal          ProblemType = "urn:ietf:params:acme:error:serverInternal"
	ProblemTLS                     ProblemType = "urn:ietf:params:acme:error:tls"
	ProblemUnauthorized            ProblemType = "urn:ietf:params:acme:error:unauthorized"
	ProblemUnsupportedContact      ProblemType = "urn:ietf:params:acme:error:unsupportedContact"
	ProblemUnsupportedIdentifier   ProblemType = "urn:ietf:params:acme:error:unsupportedIdentifier"
	ProblemUserActionRequired      ProblemType = "urn:ietf:params:acme:error:userActionRequired"
)

// maxProblemDetail bounds the Detail made from a non-JSON error body.
const maxProblemDetail = 512

// problems returns every *Problem in err's tree (errors.Unwrap, including
// Unwrap() []error, as an *OrderError has), with their subproblems.
func problems(err error) []*Problem {
	var out []*Problem
	var walk func(error, int)
	walk = func(err error, depth int) {
		if err == nil || depth > 16 {
			return
		}
		if p, ok := err.(*Problem); ok {
			out = append(out, p)
			for i := range p.Subproblems {
				out = append(out, &p.Subproblems[i])
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap(), depth+1)
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e, depth+1)
			}
		}
	}
	walk(err, 0)
	return out
}

func hasProblem(err error, match func(*Problem) bool) bool {
	for _, p := range problems(err) {
		if match(p) {
			return true
		}
	}
	return false
}

func isType(t ProblemType) func(*Problem) bool {
	return func(p *Problem) bool { return p.Type == t }
}

// IsRateLimited reports whether err carries a rateLimited problem or a 429
// response. RetryAfter(err) then says when to try again.
func IsRateLimited(err error) bool {
	return hasProblem(err, (*Problem).isRateLimit)
}

// RateLimitRetryAfter reports whether err carries a rate limit (a
// rateLimited problem or a 429) and, if so, the time the CA said to retry
// after: the Retry-After of the rate-limited response, else of any
// response in err, zero when the CA gave none. RateLimitMessage words the
// same for users.
func RateLimitRetryAfter(err error) (retryAfter time.Time, limited bool) {
	for _, p := range problems(err) {
		if p.isRateLimit() {
			limited = true
			if !p.RetryAfter.IsZero() {
				return p.RetryAfter, true
			}
		}
	}
	if limited {
		retryAfter, _ = RetryAfter(err)
	}
	return retryAfter, limited
}

// RateLimitMessage returns, for an err that carries a rate limit, either
// "retry after <RFC 3339 time>" or "the CA gave no time to retry after";
// "" for any other err. A rate-limited *Problem's Error already ends with
// it; RateLimitMessage is for callers that print something else (the
// CLI's exit status 4 promises the time or that there was none).
func RateLimitMessage(err error) string {
	t, ok := RateLimitRetryAfter(err)
	if !ok {
		return ""
	}
	return rateLimitText(t)
}

// IsBadNonce reports whether err carries a badNonce problem. The Client
// already retries those; seeing one means the retries ran out.
func IsBadNonce(err error) bool { return hasProblem(err, isType(ProblemBadNonce)) }

// IsUnauthorized reports whether err carries an unauthorized problem.
func IsUnauthorized(err error) bool { return hasProblem(err, isType(ProblemUnauthorized)) }

// IsAccountDoesNotExist reports whether err carries an accountDoesNotExist
// problem, as LookupAccount returns for an unknown key.
func IsAccountDoesNotExist(err error) bool {
	return hasProblem(err, isType(ProblemAccountDoesNotExist))
}

// IsAlreadyRevoked reports whether err carries an alreadyRevoked
// problem (RFC 8555 §7.6): the certificate a revocation names was
// revoked before.
func IsAlreadyRevoked(err error) bool { return hasProblem(err, isType(ProblemAlreadyRevoked)) }

// IsCAA reports whether err, or any subproblem or challenge error in it,
// is a caa problem: a CAA record forbids this CA.
func IsCAA(err error) bool { return hasProblem(err, isType(ProblemCAA)) }

// IsRejectedIdentifier reports whether err, or any subproblem in it, is a
// rejectedIdentifier problem: the CA will not issue for a name.
func IsRejectedIdentifier(err error) bool {
	return hasProblem(err, isType(ProblemRejectedIdentifier))
}

// IsRetryable reports whether err is worth retrying later with the same
// request: a serverInternal or rateLimited problem, a 5xx other than 501
// Not Implemented, a 408 or 429, or a transport error in which no
// response arrived (other than a failure to verify the CA's certificate).
// Context errors, redirects, 501s and refusals are not retryable.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errors.ErrUnsupported) {
		return false
	}
	var re *RedirectError
	if errors.As(err, &re) {
		return false
	}
	if hasProblem(err, transientProblem) {
		return true
	}
	var te *transportError
	return errors.As(err, &te) && !isCertificateError(err)
}

// RetryAfter returns the earliest time the server said to retry, from the
// Retry-After header of the response that carried a problem in err.
func RetryAfter(err error) (time.Time, bool) {
	for _, p := range problems(err) {
		if !p.RetryAfter.IsZero() {
			return p.RetryAfter, true
		}
	}
	return time.Time{}, false
}

// responseProblem turns a non-2xx response into a *Problem. A body that is
// not a problem document still yields one: Status from the response, Type
// empty and Detail the (truncated) body.
func responseProblem(r *response, now time.Time) *Problem {
	p, err := parseProblem(r.body)
	if err != nil {
		p = &Problem{Detail: truncateDetail(r.body)}
	}
	if p.Status == 0 || p.Status != r.status && r.status >= 400 {
		// The HTTP status is the one that was acted on; the body's is
		// advisory (RFC 7807 §3.1).
		p.Status = r.status
	}
	p.RetryAfter = headerRetryAfter(r.header, now)
	return p
}

// parseProblem parses an RFC 7807 problem document.
func parseProblem(b []byte) (*Problem, error) {
	var w wireProblem
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("acme: malformed problem document: %w", err)
	}
	return w.problem(0), nil
}

func truncateDetail(b []byte) string {
	s := strings.ToValidUTF8(strings.TrimSpace(string(b)), "\uFFFD")
	if len(s) > maxProblemDetail {
		s = strings.ToValidUTF8(s[:maxProblemDetail], "") + "…"
	}
	return s
}
