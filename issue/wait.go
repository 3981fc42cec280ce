package issue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// watchTiming paces the checks of answered challenges while the order is
// awaited (see Issuer.awaitValidation).
type watchTiming struct {
	// schedule is the wait before each check of the answered
	// authorizations; past its end the last entry repeats. A later
	// Retry-After of an authorization wins.
	schedule []time.Duration
	// staleGrace is how long after an answer an error identical to the
	// one the challenge carried before that answer is taken for the old
	// one, still attached while the CA validates again.
	staleGrace time.Duration
}

// defaultWatch checks the answered authorizations first 2 s after the
// answers, when a CA that validates in well under a second (Pebble,
// Boulder on a good day) has readied the order and the checks never
// happen; then every 2 to 3 s.
var defaultWatch = watchTiming{
	schedule:   []time.Duration{2 * time.Second, 2 * time.Second, 3 * time.Second},
	staleGrace: 5 * time.Second,
}

func (is *Issuer) watchTiming() watchTiming {
	if is.timing != nil {
		return *is.timing
	}
	return defaultWatch
}

// answer is a challenge the issuer answered, and what it has seen of it
// since.
type answer struct {
	authzURL string
	// authz is the authorization as last seen.
	authz acme.Authorization
	// chal is the challenge as given to the solver (client fields set).
	chal acme.Challenge
	// attempts counts the answers sent; answeredAt is when the last was.
	attempts   int
	answeredAt time.Time
	// stale is the error the challenge carried before the last answer.
	stale *acme.Problem
	// grace is the issuer's watchTiming.staleGrace.
	grace time.Duration
	valid bool
}

// verdict is what the CA's view of an answered challenge means.
type verdict int

const (
	inProgress verdict = iota // not validated yet, no failure seen
	validated                 // the authorization is valid
	retryable                 // the validation failed; the CA leaves the challenge open
	final                     // the validation failed for good (invalid)
	gone                      // the authorization expired, or was deactivated or revoked
)

// judge reads the CA's view of w: its authorization a and its challenge
// ch. An error on the challenge is a failure whatever its status (RFC 8555
// §8.2 lets a CA attach one to a challenge it keeps pending or processing
// to try again), unless the challenge is valid, or the error is the one it
// carried before the last answer and the CA may not have looked again yet.
func (w *answer) judge(a acme.Authorization, ch acme.Challenge, now time.Time) verdict {
	switch a.Status {
	case acme.StatusValid:
		return validated
	case acme.StatusInvalid:
		return final
	case acme.StatusExpired, acme.StatusDeactivated, acme.StatusRevoked:
		return gone
	}
	switch {
	case ch.Status == acme.StatusInvalid:
		return final
	case ch.Status == acme.StatusValid || ch.Error == nil:
		return inProgress
	case w.stale != nil && sameProblem(ch.Error, w.stale) && now.Sub(w.answeredAt) < w.grace:
		return inProgress
	}
	return retryable
}

func sameProblem(a, b *acme.Problem) bool {
	return a.Type == b.Type && a.Detail == b.Detail && a.Title == b.Title
}

// answer tells the CA that w's challenge is ready to be validated, the
// first time or again, and judges the CA's answer: a challenge already
// invalid, or failed with no retry left, is the order's end.
func (is *Issuer) answer(ctx context.Context, order acme.Order, w *answer) error {
	got, err := is.Client.AcceptChallenge(ctx, is.Account, w.chal)
	if err != nil {
		return fmt.Errorf("issue: accept %s challenge for %q: %w", w.chal.Type, chalName(w.chal), err)
	}
	w.attempts++
	w.answeredAt = time.Now()
	w.grace = is.watchTiming().staleGrace
	switch w.judge(w.authz, got, w.answeredAt) {
	case final:
		return is.validationError(order, w.authz, got, w.attempts)
	case retryable:
		if w.attempts > is.ChallengeRetries {
			return is.validationError(order, w.authz, got, w.attempts)
		}
		// The watch answers again once it has seen the authorization.
	}
	return nil
}

// awaitValidation waits for the order to leave "pending" once its
// challenges are answered, and finalizes it with the CSR csr gives: the
// order is finalized, or polled until ready and then finalized, by
// acme.Client.FinalizeWhenReady; meanwhile the answered authorizations are checked now and then (see
// watchTiming), because a CA may leave a failed challenge pending with an
// error attached, and the order with it, until the order expires. The
// first failure found ends the wait with a *ValidationError, or with
// Issuer.ChallengeRetries the challenge is answered again first.
func (is *Issuer) awaitValidation(ctx context.Context, order acme.Order, answers []*answer, csr func(context.Context) ([]byte, error)) (acme.Order, error) {
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watched := make(chan error, 1)
	go func() {
		err := is.watch(wctx, order, answers)
		if err != nil {
			cancel(err)
		}
		watched <- err
	}()
	o, err := is.Client.FinalizeWhenReady(wctx, is.Account, order, csr)
	cancel(errWaitOver)
	werr := <-watched
	if err == nil {
		return o, nil
	}
	var oe *acme.OrderError
	isOrderErr := errors.As(err, &oe)
	if werr != nil && ctx.Err() == nil && (!isOrderErr || len(oe.Authorizations) == 0 || errors.Is(err, werr)) {
		// The watch saw the failure first (its error may come back as
		// the cause of the CSR's wait, as it ended it), or the order
		// poll found the order invalid but could not look at its
		// authorizations once the watch, which had, ended the wait:
		// the watch's error names them.
		return o, werr
	}
	var p *acme.Problem
	if ctx.Err() == nil && errors.Is(err, acme.ErrFinalize) && !(errors.As(err, &p) && p.Type == acme.ProblemOrderNotReady) {
		// The CA's refusal of the finalize (a CSR it will not sign, an
		// identifier it will not issue for): "issue: finalize: ...".
		// orderNotReady is only the early finalize's answer, come as
		// ctx ended; a stop while the finalize was in flight is the
		// stop's, below.
		return o, fmt.Errorf("issue: %w", err)
	}
	if ctx.Err() != nil {
		if open := openAnswers(answers); open != "" {
			return o, fmt.Errorf("issue: waiting for the CA to validate %s: %w", open, err)
		}
	}
	return o, fmt.Errorf("issue: %w", err)
}

// openAnswers describes the answered challenges not seen valid, with
// their last seen state, for an error at the deadline.
func openAnswers(answers []*answer) string {
	var parts []string
	for _, w := range answers {
		if w.valid {
			continue
		}
		ch := failedChallenge(w.authz, w.chal)
		parts = append(parts, fmt.Sprintf("%q by %s (challenge %s, authorization %s, %s)",
			chalName(w.chal), w.chal.Type, statusText(ch.Status), statusText(w.authz.Status), attemptsText(w.attempts)))
	}
	return strings.Join(parts, ", ")
}

var errWaitOver = errors.New("the order is no longer pending")

// watch checks the answered authorizations that are not valid yet, on
// watchTiming's schedule, until all are valid or ctx is done (nil), or
// one failed (its error).
func (is *Issuer) watch(ctx context.Context, order acme.Order, answers []*answer) error {
	timing := is.watchTiming()
	open := slices.DeleteFunc(slices.Clone(answers), func(w *answer) bool { return w.valid })
	for round := 0; len(open) > 0; round++ {
		d := timing.schedule[min(round, len(timing.schedule)-1)]
		for _, w := range open {
			if ra := time.Until(w.authz.RetryAfter); !w.authz.RetryAfter.IsZero() && ra > d {
				d = ra
			}
		}
		if !sleep(ctx, d) {
			return nil
		}
		err := all(ctx, len(open), func(ctx context.Context, i int) error { return is.checkAnswer(ctx, order, open[i]) })
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		open = slices.DeleteFunc(open, func(w *answer) bool { return w.valid })
	}
	return nil
}

// checkAnswer fetches w's authorization and acts on what it shows.
func (is *Issuer) checkAnswer(ctx context.Context, order acme.Order, w *answer) error {
	a, err := is.Client.GetAuthorization(ctx, is.Account, w.authzURL)
	if err != nil {
		// No verdict: the order poll goes on, and so do the checks.
		if ctx.Err() == nil {
			is.logger().DebugContext(ctx, "checking an authorization failed", "authorization", w.authzURL, "error", err)
		}
		return nil
	}
	w.authz = a
	ch := failedChallenge(a, w.chal)
	switch w.judge(a, ch, time.Now()) {
	case validated:
		w.valid = true
		is.logger().InfoContext(ctx, "the CA validated the challenge", "type", ch.Type, "identifier", authzName(a))
	case final:
		return is.validationError(order, a, ch, w.attempts)
	case gone:
		return fmt.Errorf("issue: the authorization for %q became %s before it was validated", authzName(a), a.Status)
	case retryable:
		if w.attempts > is.ChallengeRetries {
			return is.validationError(order, a, ch, w.attempts)
		}
		is.logger().WarnContext(ctx, "the CA reports the validation failed; answering the challenge again",
			"type", ch.Type, "identifier", authzName(a), "attempt", w.attempts+1, "of", is.ChallengeRetries+1, "error", problemText(ch.Error))
		w.stale = ch.Error
		return is.answer(ctx, order, w)
	}
	return nil
}

// failedChallenge returns the challenge of a that was answered (same URL
// as answered), else the first one with an error, else answered itself.
func failedChallenge(a acme.Authorization, answered acme.Challenge) acme.Challenge {
	for _, c := range a.Challenges {
		if answered.URL != "" && c.URL == answered.URL {
			return c
		}
	}
	for _, c := range a.Challenges {
		if c.Error != nil {
			return c
		}
	}
	return answered
}

func (is *Issuer) validationError(order acme.Order, a acme.Authorization, ch acme.Challenge, attempts int) *ValidationError {
	if ch.Identifier.Value == "" {
		ch.Identifier = a.Identifier
	}
	// The authorization as reported holds the challenge as last seen.
	a.Challenges = slices.Clone(a.Challenges)
	for i := range a.Challenges {
		if a.Challenges[i].URL == ch.URL {
			a.Challenges[i] = ch
		}
	}
	return &ValidationError{Order: order, Authorization: a, Challenge: ch, Attempts: attempts}
}

// ValidationError reports that the CA could not validate an identifier of
// the order: it attached an error to the challenge answered (RFC 8555
// §7.1.5, §8.2), or marked the challenge or the authorization invalid
// (§7.1.6). Obtain returns it as soon as the CA shows it, whatever status
// the CA left the challenge in: some CAs keep a failed challenge pending,
// and the order with it, until the order expires.
//
// It unwraps to an *acme.OrderError holding the order and this
// authorization, so errors.As finds that, and through it the challenge's
// *acme.Problem.
type ValidationError struct {
	// Order is the order as placed; it may still be pending.
	Order acme.Order
	// Authorization is the authorization as last seen.
	Authorization acme.Authorization
	// Challenge is the challenge answered, as last seen; its Error is the
	// CA's problem (nil when the CA gave none).
	Challenge acme.Challenge
	// Attempts is how many times the challenge was answered (0 when the
	// authorization was invalid before any answer).
	Attempts int
}

// Error names the identifier, the challenge type, the states the CA left
// the challenge and authorization in and the answers sent, and quotes the
// CA's problem.
func (e *ValidationError) Error() string {
	what := "the CA gave no reason"
	if p := e.Challenge.Error; p != nil {
		what = problemText(p)
		if p.Type != "" {
			what += fmt.Sprintf(" (%s)", p.Type)
		}
	}
	return fmt.Sprintf("issue: the CA could not validate %s %q by %s (challenge %s, authorization %s, %s): %s",
		e.Authorization.Identifier.Type, authzName(e.Authorization), e.Challenge.Type,
		statusText(e.Challenge.Status), statusText(e.Authorization.Status), attemptsText(e.Attempts), what)
}

// Unwrap returns the failure as an *acme.OrderError of one authorization.
func (e *ValidationError) Unwrap() error {
	return &acme.OrderError{Order: e.Order, Problem: e.Order.Error, Authorizations: []acme.Authorization{e.Authorization}}
}

func problemText(p *acme.Problem) string {
	if p == nil {
		return ""
	}
	s := p.Detail
	if s == "" {
		s = p.Title
	}
	if s == "" {
		s = string(p.Type)
	}
	for _, sp := range p.Subproblems {
		d := sp.Detail
		if sp.Identifier != nil {
			d = sp.Identifier.Value + ": " + d
		}
		s += "; " + d
	}
	return fmt.Sprintf("%q", s)
}

func statusText(s acme.Status) string {
	if s == "" {
		return "without status"
	}
	return string(s)
}

func attemptsText(n int) string {
	switch n {
	case 0:
		return "not answered"
	case 1:
		return "answered once"
	}
	return fmt.Sprintf("answered %d times", n)
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
