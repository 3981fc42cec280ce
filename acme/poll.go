package acme

import (
	"context"
	"time"
)

// poller is the state of one WaitOrder or WaitAuthorization, for its
// errors.
type poller struct {
	c             *Client
	resource, url string
	start         time.Time
	polls         int
	status        string
	// said paces the progress lines of the wait (see logPoll).
	said *pollLog
}

func (c *Client) newPoller(resource, url string) *poller {
	return &poller{c: c, resource: resource, url: url, start: c.clock(), said: c.newPollLog(resource, url)}
}

// wait sleeps d before the next poll. When the CA's Retry-After ra lies
// beyond ctx's deadline it fails at once instead, quoting it.
func (w *poller) wait(ctx context.Context, d time.Duration, ra time.Time) error {
	if dl, ok := ctx.Deadline(); ok && ra.After(dl) && d > 0 {
		return w.errorf(&WaitError{RetryAfter: ra, Deadline: dl, Err: context.DeadlineExceeded})
	}
	if err := sleep(ctx, d); err != nil {
		return w.errorf(&WaitError{Err: err})
	}
	return nil
}

// failed turns an error of a poll into a *WaitError when it came from
// ctx ending; others are returned as they are.
func (w *poller) failed(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return w.errorf(&WaitError{Err: cerr, Last: err})
	}
	return err
}

func (w *poller) errorf(e *WaitError) error {
	e.Resource, e.URL, e.Status, e.Attempts = w.resource, w.url, w.status, w.polls
	e.Waited = w.c.clock().Sub(w.start)
	return e
}

// orderStep is what WaitOrder waits for: the CA's validation of a
// pending order's authorizations, or its issuance once the order is
// processing (after finalize). They take different times (Pebble
// validates in a few milliseconds and issues in under one), so each has
// its own estimate.
type orderStep int

const (
	stepValidation orderStep = iota
	stepIssuance
)

// issuanceFloor is the least wait before the first poll of an order that
// is processing: CAs that issue asynchronously (Pebble, step-ca) do it
// in about a millisecond, and the others answer finalize with the order
// valid, so that no wait happens at all.
const issuanceFloor = 2 * time.Millisecond

// A step's first poll comes no sooner than stepAnswers[step] times the
// time the CA takes to answer the request that starts it (a challenge
// answer for validation, finalize for issuance; see Client.answerTime),
// and no sooner than minFirstPoll. To validate, the CA does at least what
// it does to answer a request, several times over: it looks the name up
// and fetches the response from its vantage points. Pebble, on a loaded
// 2-core machine, validates the last of 10 challenges 1 to 5 ms after
// answering it, which itself takes it 1 to 2 ms, and one challenge 1 to
// 4 ms after an answer of about 0.6 ms: three times the answer missed
// the order's readiness in up to one order in five under load, four
// times in about one in thirty (each miss costs a poll). It issues in
// about the time it takes to answer finalize (under 1.3 ms on Pebble).
var stepAnswers = [2]time.Duration{stepValidation: 4, stepIssuance: 2}

const minFirstPoll = time.Millisecond

// firstPoll is the wait before WaitOrder's first poll for step: the
// estimate of how long that step takes at this CA, between a floor and
// one second. The floor, and the estimate of a Client that has not waited
// yet, is the poll schedule's first entry (10 ms) for validation and
// issuanceFloor for issuance, or less once the Client has seen how fast
// the CA answers the request that starts the step (stepAnswers times
// that, at least minFirstPoll): a CA on the same machine answers within
// a millisecond and validates within a few, and a first poll 10 ms after
// the last challenge answer would spend most of an order's time waiting.
// The estimate grows under load, or at a CA that validates from afar, so
// that fewer polls find the order unfinished.
func (c *Client) firstPoll(step orderStep) time.Duration {
	floor := pollDelay(c.polls(), 0)
	if step == stepIssuance {
		floor = min(floor, issuanceFloor)
	}
	if a := time.Duration(c.answerTime[step].Load()); a > 0 {
		// In whole milliseconds: the runtime's timers sleep in whole
		// milliseconds on Linux (epoll), so that a wait of 1.2 ms lasts
		// 2 ms or more and one of 1 ms about 1.1 ms.
		floor = min(floor, max((a*stepAnswers[step]).Truncate(time.Millisecond), minFirstPoll))
	}
	d := time.Duration(c.orderWait[step].Load())
	return min(max(d, floor), time.Second)
}

// noteAnswer updates the estimate of how long the CA takes to answer the
// request that starts step (an exponentially weighted average, weight
// 1/4, of successful exchanges).
func (c *Client) noteAnswer(step orderStep, d time.Duration) {
	for {
		old := c.answerTime[step].Load()
		next := int64(d)
		if old != 0 {
			next = old + (int64(d)-old)/4
		}
		if c.answerTime[step].CompareAndSwap(old, next) {
			return
		}
	}
}

// learnOrderWait updates the estimate of step from one wait: the first
// poll came after first, and polls more polls and extra time were needed.
// An order done at the first poll may have been done earlier, so the
// estimate moves a little down (to 90% of first); one that needed more
// polls moves it up to what the wait really took. As an exponentially
// weighted average (weight 1/4) it settles where most first polls (about
// 75% with the schedule's 10 ms steps) find the order done.
func (c *Client) learnOrderWait(step orderStep, first time.Duration, polls int, extra time.Duration) {
	sample := first * 9 / 10
	if polls > 0 {
		sample = first + extra
	}
	for {
		old := c.orderWait[step].Load()
		next := int64(sample)
		if old != 0 {
			next = old + (int64(sample)-old)/4
		}
		if c.orderWait[step].CompareAndSwap(old, next) {
			return
		}
	}
}

// pollWait is the wait before the next poll: the poll schedule, or until
// retryAfter if that is later. The schedule stays a floor so that a
// Retry-After in the past cannot make the loop spin.
func (c *Client) pollWait(n int, retryAfter time.Time) time.Duration {
	d := pollDelay(c.polls(), n)
	if w := retryAfter.Sub(c.clock()); !retryAfter.IsZero() && w > d {
		d = w
	}
	return d
}
