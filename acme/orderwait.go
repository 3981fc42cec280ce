package acme

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// WaitOrder polls the order until its status is neither pending nor
// processing, or ctx is done. It never polls sooner than the server's
// Retry-After: that of the last answer about the order this Client saw
// (FinalizeOrder's included), then each poll's, and while the order is
// pending that of its authorizations (AcceptChallenge's); without one it
// backs off from 10ms to 1s. The first poll comes after what this Client
// has learned the CA takes for the step awaited: validation while the
// order was last seen pending (at first 10ms, or four times the CA's
// answer to a challenge if that is less, at least 1ms), issuance once it
// was seen processing, as FinalizeOrder returns it (at first 2ms, or
// twice the CA's answer to finalize if that is less, at least 1ms); a
// first poll that came sooner than 10ms and found the step unfinished is
// followed by another after the same wait. A Retry-After beyond ctx's
// deadline ends the wait at once with a *WaitError that quotes it; the
// deadline passing ends it with a *WaitError that names the order, its
// last status and how long it was awaited (errors.Is
// context.DeadlineExceeded holds for both).
//
// If the order ends invalid, WaitOrder returns it together with an
// *OrderError that holds the CA's problem and the invalid authorizations.
// On any other error it returns the last order it saw (zero if none).
//
// To finalize an order whose challenges were just answered,
// FinalizeWhenReady saves the poll that finds it ready.
func (c *Client) WaitOrder(ctx context.Context, acct Account, url string) (Order, error) {
	w := c.newPoller("order", url)
	step := stepValidation
	if c.memo.orderStatus(url) == StatusProcessing {
		step = stepIssuance
	}
	first, learn, err := c.firstWait(ctx, w, url, step)
	if err != nil {
		return Order{}, err
	}
	return c.pollOrder(ctx, acct, w, step, first, learn, time.Now())
}

// firstWait waits before the first look at an order after an action the
// CA needs a moment for (accepting challenges, finalizing): an immediate
// look would only find it unfinished. It waits firstPoll(step), or until
// the Retry-After of the CA's last answer about the order if that is
// later; learn reports whether the wait was the estimate's, so that what
// the look finds may refine it.
func (c *Client) firstWait(ctx context.Context, w *poller, url string, step orderStep) (first time.Duration, learn bool, err error) {
	first = c.firstPoll(step)
	ra := c.memo.orderRetryAfter(url)
	learn = ra.Sub(c.clock()) <= first
	return first, learn, w.wait(ctx, max(first, ra.Sub(c.clock())), ra)
}

// pollOrder polls w's order until it is neither pending nor processing
// (see WaitOrder). w.polls looks at it were made already, the first at
// start after the wait first; when there were any, the next poll waits
// as after a missed first poll.
func (c *Client) pollOrder(ctx context.Context, acct Account, w *poller, step orderStep, first time.Duration, learn bool, start time.Time) (Order, error) {
	var last Order
	url := w.url
	said := w.said
	looked := w.polls
	for n := looked; ; n++ {
		if n > 0 && n == looked {
			// The first look (an early finalize) found the order not
			// ready: the next comes after the same estimate.
			ra := c.memo.orderRetryAfter(url)
			if err := w.wait(ctx, max(first, ra.Sub(c.clock())), ra); err != nil {
				return last, err
			}
		}
		o, err := c.GetOrder(ctx, acct, url)
		w.polls++
		if err != nil {
			return last, w.failed(ctx, err)
		}
		last = o
		w.status = string(o.Status)
		ra := o.RetryAfter
		switch o.Status {
		case StatusPending:
			if t := c.memo.orderRetryAfter(url); t.After(ra) {
				ra = t
			}
		case StatusProcessing:
		case StatusInvalid:
			return o, c.orderError(ctx, acct, o)
		default:
			if learn {
				c.learnOrderWait(step, first, n, time.Since(start))
			}
			return o, nil
		}
		d := c.pollWait(n, ra)
		if n == 0 && first < pollDelay(c.polls(), 0) {
			// The first poll came after less than the schedule's first
			// wait, estimated from the CA's answers (see firstPoll), and
			// just missed: the step is most likely about done, so the
			// next poll comes after that estimate again, not after the
			// schedule's 10 ms (a Retry-After still wins).
			d = first
			if w := ra.Sub(c.clock()); !ra.IsZero() && w > d {
				d = w
			}
		}
		c.logPoll(ctx, said, n, identifierNames(o.Identifiers), o.Status, d, ra)
		if err := w.wait(ctx, d, ra); err != nil {
			return o, err
		}
	}
}

// FinalizeWhenReady finalizes order with the CSR (DER) that csr returns,
// as soon as the CA has validated the order's authorizations, and returns
// the order as FinalizeOrder does (most often "processing": WaitOrder
// next). It is the way to go on once an order's challenges are answered
// (AcceptChallenge), and costs one request less than WaitOrder followed
// by FinalizeOrder: RFC 8555 §7.4 has the client finalize "once [it]
// believes it has fulfilled the server's requirements", and a CA that
// has not validated yet answers 403 orderNotReady and changes nothing.
//
// A pending order is finalized after the wait before WaitOrder's first
// poll (the estimate this Client has learned of the CA's validation
// time, or the CA's Retry-After), in place of that poll; csr is called
// then, and may block until the key is made. If the CA answers
// orderNotReady (one such error per order at most, counted as a 403 at
// the finalize endpoint by OnRequest), the order is polled as WaitOrder
// does, no sooner than the refusal's Retry-After, and finalized once
// ready. A CA that answers a pending order's finalize with another
// error, or whose order ends invalid after a refused early finalize with
// no authorization failed, is not sent early finalizes again by this
// Client. An order that is ready already is finalized at once; one
// processing or valid is returned as it is, without calling csr.
//
// Errors are WaitOrder's (an order that ends invalid comes back with an
// *OrderError), csr's, and FinalizeOrder's (a *Problem such as badCSR),
// these wrapping ErrFinalize too, so that a caller can tell a refusal of
// the finalize from one of a poll.
func (c *Client) FinalizeWhenReady(ctx context.Context, acct Account, order Order, csr func(context.Context) ([]byte, error)) (Order, error) {
	if order.Status == StatusPending && c.noEarlyFinalize.Load() {
		o, err := c.WaitOrder(ctx, acct, order.URL)
		if err != nil {
			return o, err
		}
		order = o
	}
	switch order.Status {
	case StatusReady:
		der, err := csr(ctx)
		if err != nil {
			return order, err
		}
		return c.finalize(ctx, acct, order, der)
	case StatusPending:
	default:
		if order.Status == StatusInvalid {
			return order, c.orderError(ctx, acct, order)
		}
		return order, nil
	}
	w := c.newPoller("order", order.URL)
	first, learn, err := c.firstWait(ctx, w, order.URL, stepValidation)
	if err != nil {
		return order, err
	}
	der, err := csr(ctx)
	if err != nil {
		return order, err
	}
	start := time.Now()
	o, err := c.finalize(ctx, acct, order, der)
	w.polls++
	notReady := hasProblem(err, isType(ProblemOrderNotReady))
	switch {
	case err == nil:
		if learn {
			c.learnOrderWait(stepValidation, first, 0, 0)
		}
		return o, nil
	case ctx.Err() != nil:
		return order, w.failed(ctx, err)
	case notReady:
		// The 403 the request log shows is expected: say so.
		c.log.LogAttrs(ctx, slog.LevelDebug, notReadyMsg, slog.String("order", order.URL))
		if ra, ok := directRetryAfter(err); ok {
			// The refusal is the CA's last answer about the order: its
			// Retry-After holds for the next poll, and a wait it imposes
			// says nothing of how long the CA takes to validate.
			if ra.After(c.memo.retryAfterOf(order.URL)) {
				c.memo.setRetryAfter(order.URL, ra)
			}
			learn = learn && ra.Sub(c.clock()) <= first
		}
	case !hasProblem(err, mayMeanNotReady):
		return order, err
	default:
		// The order was refused, or this CA says "not ready" another
		// way: the order's status tells.
		cur, gerr := c.GetOrder(ctx, acct, order.URL)
		w.polls++
		switch {
		case gerr != nil:
			return order, err
		case cur.Status == StatusReady:
			return c.finalize(ctx, acct, cur, der)
		case cur.Status == StatusInvalid:
			return cur, c.orderError(ctx, acct, cur)
		case cur.Status == StatusProcessing || cur.Status == StatusValid:
			// Finalized meanwhile, by another attempt at the same
			// order: the caller checks whose key it was made for.
			return cur, nil
		case cur.Status != StatusPending:
			return order, err
		}
		c.noEarlyFinalize.Store(true)
		c.log.LogAttrs(ctx, slog.LevelWarn, "the CA refused to finalize a pending order without saying orderNotReady (RFC 8555 §7.4); finalizing only orders seen ready from now on",
			slog.String("order", order.URL), slog.Any("error", err))
	}
	o, err = c.pollOrder(ctx, acct, w, stepValidation, first, learn, start)
	if oe := (*OrderError)(nil); errors.As(err, &oe) && len(oe.Authorizations) == 0 && ctx.Err() == nil {
		// Invalid with no authorization failed: the refused finalize
		// may be what ended the order, as CAs did before RFC 8555 had
		// orderNotReady. This Client's next orders are finalized only
		// once seen ready. (With ctx done, the authorizations could
		// not be looked at: a failed one may have ended the order.)
		c.noEarlyFinalize.Store(true)
		c.log.LogAttrs(ctx, slog.LevelWarn, "an order finalized early became invalid without a failed authorization; finalizing only orders seen ready from now on",
			slog.String("order", order.URL), slog.Any("error", err))
	}
	if err != nil || o.Status != StatusReady {
		return o, err
	}
	return c.finalize(ctx, acct, o, der)
}

// notReadyMsg is the debug line of an early finalize refused as not
// ready.
const notReadyMsg = "the CA has not validated the order yet: it refused the early finalize (403 orderNotReady, RFC 8555 §7.4); polling the order"

// mayMeanNotReady reports whether p, the answer to the finalize of an
// order that may be pending, may say no more than that the order is not
// ready, from a CA that does not use orderNotReady for it (RFC 8555
// §7.4): an untyped 403, unauthorized or malformed. Problems about the
// CSR, the identifiers or the account say something else and end the
// finalize.
func mayMeanNotReady(p *Problem) bool {
	switch p.Type {
	case "", "about:blank", ProblemUnauthorized, ProblemMalformed:
		return p.Status == 0 || p.Status == http.StatusForbidden || p.Status == http.StatusBadRequest
	}
	return false
}

// ErrFinalize is wrapped by FinalizeWhenReady's errors that come from
// the finalize request itself (RFC 8555 §7.4), such as a CA's refusal of
// the CSR: errors.Is(err, ErrFinalize) tells them from the errors of the
// order's polls. Its text is "finalize".
var ErrFinalize = errors.New("finalize")

// finalize is FinalizeOrder with its error wrapping ErrFinalize.
func (c *Client) finalize(ctx context.Context, acct Account, order Order, der []byte) (Order, error) {
	o, err := c.FinalizeOrder(ctx, acct, order, der)
	if err != nil {
		return o, fmt.Errorf("%w: %w", ErrFinalize, err)
	}
	return o, nil
}
