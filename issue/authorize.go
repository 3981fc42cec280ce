package issue

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// presented is a challenge handed to a solver, kept for clean-up.
type presented struct {
	chal   acme.Challenge
	solver challenge.Solver
}

// authorize fetches every authorization of the order at once, presents a
// challenge for each pending one, waits for the solvers that need time,
// and tells the CA to validate all of them. It returns a function that
// cleans up everything that was presented, which the caller runs once the
// CA no longer needs the responses, and the challenges answered, for
// awaitValidation. On error authorize has cleaned up already.
//
// An authorization the CA already holds invalid, or a challenge whose
// answer the CA at once reports failed, ends the order here with a
// *ValidationError.
func (is *Issuer) authorize(ctx context.Context, order acme.Order) (cleanup func(), answers []*answer, err error) {
	// Nothing the CA names reaches a solver unless the order asked for
	// it (a made-up identifier, or one holding a newline, would become a
	// record name handed to hooks and DNS providers): GetAuthorization
	// refuses an authorization for an identifier that its order, as the
	// client saw it, does not have (*acme.MismatchError).
	n := is.RequestsInFlight
	if n <= 0 {
		n = DefaultRequestsInFlight
	}
	limit := newLimiter(n)
	authzs := make([]acme.Authorization, len(order.Authorizations))
	if err := all(ctx, len(authzs), func(ctx context.Context, i int) error {
		var a acme.Authorization
		err := limit.do(ctx, func() (err error) {
			a, err = is.Client.GetAuthorization(ctx, is.Account, order.Authorizations[i])
			return err
		})
		if err != nil {
			return fmt.Errorf("issue: fetch authorization: %w", err)
		}
		authzs[i] = a
		return nil
	}); err != nil {
		return nil, nil, err
	}

	var todo []presented
	for i, a := range authzs {
		switch a.Status {
		case acme.StatusValid:
			continue // reused from an earlier order
		case acme.StatusPending:
		case acme.StatusInvalid:
			ch := failedChallenge(a, acme.Challenge{})
			return nil, nil, is.validationError(order, a, ch, 0)
		default:
			return nil, nil, fmt.Errorf("issue: authorization for %q is %s", authzName(a), a.Status)
		}
		chal, err := is.pick(a)
		if err != nil {
			return nil, nil, err
		}
		todo = append(todo, presented{chal: chal, solver: is.Solvers[chal.Type]})
		answers = append(answers, &answer{authzURL: order.Authorizations[i], authz: a, chal: chal, stale: chal.Error})
	}

	var (
		mu   sync.Mutex
		done []presented
	)
	cleanup = func() { is.cleanUp(ctx, done) }
	fail := func(err error) (func(), []*answer, error) {
		cleanup()
		return nil, nil, err
	}

	log := is.logger()
	// The first failure stops the others: no challenge is accepted once
	// the order is bound to fail.
	if err := all(ctx, len(todo), func(ctx context.Context, i int) error {
		p := todo[i]
		log.InfoContext(ctx, "presenting challenge", "type", p.chal.Type, "identifier", chalName(p.chal))
		if err := p.solver.Present(ctx, p.chal); err != nil {
			if ctx.Err() != nil {
				// Cut short (Ctrl-C, a deadline): it may have done part
				// of its work, such as adding the DNS record.
				mu.Lock()
				done = append(done, p)
				mu.Unlock()
			}
			return &SolverError{Challenge: p.chal, Op: "present", Err: err}
		}
		mu.Lock()
		done = append(done, p)
		mu.Unlock()
		if w, ok := p.solver.(challenge.Waiter); ok {
			if err := w.Wait(ctx, p.chal); err != nil {
				return &SolverError{Challenge: p.chal, Op: "wait", Err: err}
			}
		}
		return limit.do(ctx, func() error { return is.answer(ctx, order, answers[i]) })
	}); err != nil {
		return fail(err)
	}
	return cleanup, answers, nil
}

// DefaultRequestsInFlight is Issuer.RequestsInFlight's default: the
// requests one order sends at once while it fetches its authorizations
// and answers their challenges (solvers run all at once regardless). Two
// need no more nonces than a client holds after any request: one in hand,
// one coming with the answer in flight (see acme.Client's nonce
// handling), so the second waits for the first's answer and the requests
// go one after another, each with the nonce the last answer brought. A
// wider burst costs a newNonce request for every extra request in flight,
// and on a small machine buys no time: against Pebble on two cores, a
// third in flight moved a 10-name order's last challenge answer from
// 24.7 to 24.2 ms, within the noise; the CA is busy validating the
// challenges already answered.
const DefaultRequestsInFlight = 2

// limiter bounds how many calls of do run at once.
type limiter chan struct{}

func newLimiter(n int) limiter { return make(limiter, n) }

// do runs f once a slot is free, or returns ctx's error first.
func (l limiter) do(ctx context.Context, f func() error) error {
	select {
	case l <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-l }()
	return f()
}

// pick chooses the challenge of a to solve: the first type in the
// preference that the CA offers and a solver exists for.
func (is *Issuer) pick(a acme.Authorization) (acme.Challenge, error) {
	id := a.Identifier
	if a.Wildcard && !IsWildcard(id) {
		id.Value = "*." + id.Value
	}
	for _, t := range is.candidates(id) {
		for _, c := range a.Challenges {
			if c.Type == t {
				return c, nil
			}
		}
	}
	offered := make([]acme.ChallengeType, 0, len(a.Challenges))
	for _, c := range a.Challenges {
		offered = append(offered, c.Type)
	}
	return acme.Challenge{}, &NoSolverError{Identifier: id, Have: is.solverTypes(), Offered: offered}
}

// cleanUp calls CleanUp for every presented challenge, in parallel, with a
// context that outlives a cancelled order. Failures are logged: they must
// not turn an issued certificate into an error.
func (is *Issuer) cleanUp(ctx context.Context, done []presented) {
	if len(done) == 0 {
		return
	}
	timeout := is.CleanUpTimeout
	if timeout <= 0 {
		timeout = DefaultCleanUpTimeout
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	log := is.logger()
	_ = parallel(len(done), func(i int) error {
		p := done[i]
		if err := p.solver.CleanUp(cctx, p.chal); err != nil {
			log.WarnContext(ctx, "challenge clean-up failed", "type", p.chal.Type, "identifier", chalName(p.chal), "error", err)
		}
		return nil
	})
}

// SolverError is a solver's failure to present or prepare a challenge.
type SolverError struct {
	Challenge acme.Challenge
	Op        string // "present" or "wait"
	Err       error
}

func (e *SolverError) Error() string {
	return fmt.Sprintf("issue: %s solver (%s) for %q: %v", e.Challenge.Type, e.Op, chalName(e.Challenge), e.Err)
}

func (e *SolverError) Unwrap() error { return e.Err }

// all runs f(ctx, 0..n-1) concurrently. The first failure cancels the
// context the others run with and is the error returned, so a solver's
// failure is reported as itself, not among the cancellations it caused.
func all(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			if err := f(ctx, i); err != nil {
				once.Do(func() { first = err; cancel(err) })
			}
		})
	}
	wg.Wait()
	return first
}

// parallel runs f(0..n-1) concurrently and joins the errors.
func parallel(n int, f func(i int) error) error {
	if n == 1 {
		return f(0)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = f(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// chalName is the identifier chal validates as the user wrote it: with
// "*." for a wildcard, which the CA's authorization leaves out (RFC 8555
// §7.1.4).
func chalName(chal acme.Challenge) string {
	if chal.Wildcard && !IsWildcard(chal.Identifier) {
		return "*." + chal.Identifier.Value
	}
	return chal.Identifier.Value
}

// authzName is a's identifier as the user wrote it (see chalName).
func authzName(a acme.Authorization) string {
	if a.Wildcard && !IsWildcard(a.Identifier) {
		return "*." + a.Identifier.Value
	}
	return a.Identifier.Value
}
