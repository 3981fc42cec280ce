package manager

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/store"
)

// entryHeap is the queue of certificates by next check time.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

func (h *entryHeap) remove(e *entry) { heap.Remove(h, e.index) }

// scheduleLocked works out e's next renewal and its next check, and puts
// it in the queue unless a check of it is under way.
func (m *Manager) scheduleLocked(e *entry, now, checked time.Time) {
	next := earliest(m.updateDueLocked(e, now), nextCheck(checked, m.cfg.CheckInterval, m.cfg.Jitter, m.cfg.Rand()))
	var zero state
	if e.lazy != nil || e.held != nil && e.held.covers {
		retry := e.peekState(&zero).ARIRetryAfter
		if retry.IsZero() {
			// Never fetched: at its moment in the spread of first
			// fetches (now, for a small store).
			retry = m.ariFrom.Add(time.Duration(e.r * float64(m.ariWindow)))
		}
		if retry.Before(next) {
			next = latest(retry, now)
		}
	}
	e.next = next
	switch {
	case e.removed:
	case e.index >= 0:
		heap.Fix(&m.queue, e.index)
	case !e.checking():
		heap.Push(&m.queue, e)
	}
}

// ariSpread is the window of first fetches of renewal information for n
// certificates managed (Config.ARISpread).
func (m *Manager) ariSpread(n int) time.Duration {
	switch w := m.cfg.ARISpread; {
	case w < 0:
		return 0
	case w > 0:
		return w
	}
	const free, step = 100, 100 * time.Millisecond
	if n <= free {
		return 0
	}
	return min(time.Duration(n-free)*step, m.cfg.CheckInterval/2)
}

// checking reports whether a background check of e is under way; such an
// entry is queued again when the check ends.
func (e *entry) checking() bool { return e.index == -2 }

// dueLocked returns when e should be renewed: now if nothing usable is
// held; else by policy.dueAt (the moment picked in the CA's window, or
// the lifetime rule, the earlier of both when the user set the rule, and
// never later than the margin before expiry allows); and not before the
// next attempt after a failure.
func (m *Manager) dueLocked(e *entry, now time.Time) time.Time {
	due := m.dueHeldLocked(e, now)
	var zero state
	st := e.peekState(&zero)
	if st.PendingOrder != "" && due.After(now) {
		// An order left in flight (an attempt killed after the CA may
		// have issued): finished at once, not when the certificate held
		// is due, which may be months away (see attempt's finish).
		due = now
	}
	if st.Failures > 0 && st.NextAttempt.After(due) {
		due = st.NextAttempt
	}
	if e.announce != "" {
		due = now // deploy what is live before anything else
	}
	if e.busyUntil.After(due) {
		due = e.busyUntil
	}
	return due
}

// dueHeldLocked is when the certificate held is due by itself: the
// renewal information or the lifetime rule, at once when none covers or
// it expired or was revoked; no failure, no order left, nothing else.
func (m *Manager) dueHeldLocked(e *entry, now time.Time) time.Time {
	var due time.Time
	var zero state
	st := e.peekState(&zero)
	switch h := e.held; {
	case h == nil && e.lazy != nil:
		due = m.pol.dueAt(e.lazy.notBefore, e.lazy.notAfter, st.ARIRenewAt, e.r)
		if !now.Before(e.lazy.notAfter) {
			due = now
		}
	case h == nil || !h.covers || !now.Before(h.leaf.NotAfter) || h.revoked != nil:
		due = now
	default:
		due = m.pol.dueAt(h.leaf.NotBefore, h.leaf.NotAfter, st.ARIRenewAt, e.r)
	}
	return due
}

// Run obtains what is missing and renews each certificate on its schedule
// until ctx is done; then it cancels the orders it started, waits for them
// and returns nil. Only one Run may be active at a time.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("manager: Run is already running")
	}
	m.running = true
	m.mu.Unlock()
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
	}()

	if w, ok := m.cfg.Store.(store.Watcher); ok {
		wg.Go(func() { m.follow(ctx, w) })
	}
	// Once per boot of the machine, beside the work: the processes
	// started after it in the same boot skip the look for leftovers at
	// their first lock of each certificate (store.Certs.SweepLeftovers).
	wg.Go(func() {
		start := time.Now()
		if err := m.certs.SweepLeftovers(ctx); err != nil {
			if ctx.Err() == nil {
				m.cfg.Logger.WarnContext(ctx, "sweeping the store for what dead writers left", "error", err)
			}
			return
		}
		m.cfg.Logger.DebugContext(ctx, "the store's leftovers swept for this boot", "took", time.Since(start))
	})
	m.mu.Lock()
	mark, indexed := m.indexMark, m.indexed
	m.mu.Unlock()
	if indexed {
		wg.Go(func() { m.followIndex(ctx, mark) })
	}

	timer := m.cfg.Clock.NewTimer(m.cfg.CheckInterval)
	defer timer.Stop()
	for {
		m.mu.Lock()
		now := m.cfg.Clock.Now()
		for m.busy < m.cfg.Concurrency && len(m.queue) > 0 && !m.queue[0].next.After(now) {
			e := heap.Pop(&m.queue).(*entry)
			e.index = -2
			m.busy++
			wg.Go(func() { m.work(ctx, e, &wg) })
		}
		wait := m.cfg.CheckInterval
		if len(m.queue) > 0 && m.busy < m.cfg.Concurrency {
			wait = min(wait, m.queue[0].next.Sub(now))
		}
		m.mu.Unlock()
		timer.Stop()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-m.wake:
		case <-timer.C():
		}
	}
}

// work runs one background check of e and queues it again. An order it
// starts is added to orders, which Run waits for.
func (m *Manager) work(ctx context.Context, e *entry, orders *sync.WaitGroup) {
	checked := m.check(ctx, e, orders)
	m.mu.Lock()
	m.busy--
	e.index = -1
	m.scheduleLocked(e, m.cfg.Clock.Now(), checked)
	m.mu.Unlock()
	m.poke()
}

// check looks at e: fetches the CA's renewal information when it is due,
// and renews e if it is due. It returns when it started.
func (m *Manager) check(ctx context.Context, e *entry, orders *sync.WaitGroup) time.Time {
	m.materialize(ctx, e)
	now := m.cfg.Clock.Now()
	due := m.refreshDue(ctx, e, now)
	if !now.Before(due) && ctx.Err() == nil {
		_ = m.join(ctx, e, false, ctx, orders)
	}
	if ctx.Err() == nil {
		m.stillPanicking(ctx, e, now)
	}
	return now
}

// stillPanicking raises EventPanic again, with the last error, for a
// certificate that is missing, expired or inside the panic interval and
// failing (Failures > 0) when the check that started at now placed no
// order that failed: while it backs off, waits for the CA's Retry-After,
// or another instance sharing the store is the one failing. The alarm
// and its metric are thus raised at every check, not once; but not while
// another instance holds the certificate's lock (it is ordering, and
// raises the alarm if that fails), nor sooner than panicRepeat after the
// last one.
func (m *Manager) stillPanicking(ctx context.Context, e *entry, now time.Time) {
	m.mu.Lock()
	var nb, na time.Time
	if h := e.held; h != nil { // as attemptFailedLocked
		nb, na = h.leaf.NotBefore, h.leaf.NotAfter
	}
	t := m.cfg.Clock.Now()
	if e.removed || e.st == nil || e.st.Failures == 0 || !e.panicAt.Before(now) || e.busyUntil.After(t) ||
		t.Sub(e.panicAt) < min(m.cfg.CheckInterval, panicRepeat) || m.pol.alarm(nb, na, t) != EventPanic {
		m.mu.Unlock()
		return
	}
	e.panicRaised(t)
	ev := m.eventLocked(e, EventPanic, t)
	ev.Err = errors.New(e.state().LastError)
	ev.Attempt, ev.NextAttempt = e.state().Failures, e.state().NextAttempt
	m.mu.Unlock()
	m.emit(ctx, ev)
}

// panicRepeat is the shortest time between two EventPanic that a check
// raises without a failed attempt (see stillPanicking), unless
// CheckInterval is shorter.
const panicRepeat = time.Hour

// refreshDue fetches e's renewal information if it is due, and sets and
// returns when e is due for renewal at now.
func (m *Manager) refreshDue(ctx context.Context, e *entry, now time.Time) time.Time {
	m.mu.Lock()
	var zero state
	h, ariDue := e.held, !now.Before(e.peekState(&zero).ARIRetryAfter)
	m.mu.Unlock()
	if h != nil && h.covers && ariDue {
		m.fetchRenewalInfo(ctx, e, h, now, true)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.updateDueLocked(e, now)
}

// firstRenewalInfo asks the CA when to renew h, the certificate e has
// just obtained at now, so that the state saved next (and list) says
// when it will really be renewed; or, in a storm (more certificates due
// than Concurrency lets renew at once), leaves that first fetch to a
// check at a moment of ariSpread's window (at least a minute) drawn
// for e, so that the storm's requests are not doubled while the CA is
// busiest: the lifetime rule says when h is due meanwhile.
func (m *Manager) firstRenewalInfo(ctx context.Context, e *entry, h *held, now time.Time) {
	m.mu.Lock()
	storm := m.busy >= m.cfg.Concurrency && len(m.queue) > 0 && !m.queue[0].next.After(now)
	if storm {
		e.ariLater(now.Add(max(time.Minute, time.Duration(e.r*float64(m.ariSpread(len(m.entries)))))))
	}
	m.mu.Unlock()
	if !storm {
		m.fetchRenewalInfo(ctx, e, h, now, false)
	}
	m.mu.Lock()
	m.updateDueLocked(e, now)
	m.mu.Unlock()
}

// ariRetryOnError is how soon renewal information is fetched again after
// the fetch failed.
const ariRetryOnError = time.Hour

// fetchRenewalInfo asks the CA when to renew h (RFC 9773) and records the
// answer in e's state, and whether the CA answered in e.ariFor and
// e.ariOK (so that the order that may follow does not ask again; see
// offersARI). A changed window is saved at once if save is set; the
// attempt that fetches it for a new certificate saves its state right
// after, once for both.
func (m *Manager) fetchRenewalInfo(ctx context.Context, e *entry, h *held, now time.Time, save bool) {
	m.mu.Lock()
	c := e.spec
	m.mu.Unlock()
	ri, err := m.renewalInfo(ctx, c, h.leaf)
	m.mu.Lock()
	if e.held != h { // renewed meanwhile
		m.mu.Unlock()
		return
	}
	switch {
	case errors.Is(err, errNoARI):
		e.ariNotOffered(h, now.Add(m.cfg.CheckInterval)) // ask again at the next check
		m.mu.Unlock()
		return
	case err != nil:
		e.ariFailed(h, false, now.Add(min(ariRetryOnError, m.cfg.CheckInterval)))
		m.mu.Unlock()
		if ctx.Err() == nil {
			m.cfg.Logger.WarnContext(ctx, "cannot fetch renewal information; keeping the previous schedule",
				"name", c.Name, "error", err)
		}
		return
	}
	w := ri.SuggestedWindow
	if !w.End.After(h.leaf.NotBefore) {
		// A window that ends before the certificate begins cannot be
		// meant for it; following it would renew in a loop.
		e.ariFailed(h, true, now.Add(min(ariRetryOnError, m.cfg.CheckInterval)))
		m.mu.Unlock()
		m.cfg.Logger.WarnContext(ctx, "ignoring renewal information that ends before the certificate begins",
			"name", c.Name, "window_end", w.End, "not_before", h.leaf.NotBefore)
		return
	}
	// Never fetch again sooner than a minute, nor later than the next check.
	retry := earliest(latest(ri.RetryAfter, now.Add(time.Minute)), now.Add(m.cfg.CheckInterval))
	changed := e.ariReceived(h, w.Start, w.End, retry, func() time.Time {
		r := m.cfg.Rand()
		if m.ownRand {
			// Drawn from the certificate, as the lifetime rule's draw:
			// every process picks the same moment in the same window.
			r = RenewalDraw(h.leaf)
		}
		return ariRenewAt(w.Start, w.End, now, r)
	})
	l := h.leaf
	revoked := changed && !w.End.After(now) && w.End.Before(l.NotBefore.Add(l.NotAfter.Sub(l.NotBefore)/2))
	ev := m.eventLocked(e, EventRevoked, now)
	m.mu.Unlock()
	m.cfg.Logger.DebugContext(ctx, "renewal information", "name", c.Name,
		"window_start", w.Start, "window_end", w.End, "retry_after", retry)
	if changed && save {
		m.saveState(ctx, e)
	}
	if revoked {
		// A window that ended before the middle of the lifetime is how a
		// CA asks for an immediate renewal, as after a revocation.
		m.emit(ctx, ev)
	}
}

// refusesReplaces reports whether err, the failure of an order that named
// the certificate it replaces, is worth an order without replaces: the
// CA answered with a problem (alreadyReplaced, a 500, a malformed, an
// unauthorized…), other than a rate limit (which an order without
// replaces would meet too, and which ARI renewals may be exempt from),
// and other than an order that became invalid (a failed validation,
// which replaces has no part in). An error without a problem (no answer,
// a local failure) is not a refusal.
func refusesReplaces(err error) bool {
	var p *acme.Problem
	if !errors.As(err, &p) || acme.IsRateLimited(err) {
		return false
	}
	var oe *acme.OrderError
	return !errors.As(err, &oe) || p.Type == acme.ProblemAlreadyReplaced
}
