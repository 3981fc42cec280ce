package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/internal/progress"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// ErrNotManaged is wrapped by the error of Renew for a name that is not
// managed.
var ErrNotManaged = errors.New("manager: certificate not managed")

// Renew orders the named certificate now, whether it is due or not, and
// returns when the order has ended (and the hooks of its events have run)
// or ctx is done. One order runs at a time per certificate: a caller that
// comes while one is under way, from Renew, the schedule or a handshake,
// waits for it and gets its result. The order itself is bounded by
// Config.OrderTimeout, not by ctx, so that one impatient caller does not
// cancel it for the others. If another process sharing the store renewed
// the certificate while this one waited for the store's lock, that
// certificate is taken and no order is placed.
func (m *Manager) Renew(ctx context.Context, name string) error {
	m.mu.Lock()
	e := m.entries[name]
	m.mu.Unlock()
	if e == nil {
		return fmt.Errorf("%w: %q", ErrNotManaged, name)
	}
	return m.join(ctx, e, true, context.WithoutCancel(ctx), nil)
}

// join starts an order for e unless one is under way, and waits for it or
// for ctx. The order runs under parent, bounded by OrderTimeout. An order
// it starts is added to track, if not nil, so that Run can wait for the
// orders it started: the caller may stop waiting when ctx is done, but
// the order still winds down, saves its state and runs its hooks.
func (m *Manager) join(ctx context.Context, e *entry, force bool, parent context.Context, track *sync.WaitGroup) error {
	m.mu.Lock()
	c := e.call
	if c == nil {
		if err := m.closing.Err(); err != nil {
			m.mu.Unlock()
			return fmt.Errorf("manager: closed: %w", err)
		}
		c = &call{done: make(chan struct{})}
		e.call = c
		if track != nil {
			track.Add(1)
		}
		m.orders.Add(1)
		go func() {
			defer m.orders.Done()
			if track != nil {
				defer track.Done()
			}
			octx, cancel := context.WithTimeout(parent, m.cfg.OrderTimeout)
			stop := context.AfterFunc(m.closing, cancel) // Close cancels it
			err := m.attempt(octx, e, force)
			stop()
			cancel()
			m.mu.Lock()
			e.call = nil
			c.err = err
			close(c.done)
			m.mu.Unlock()
		}()
	}
	m.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attempt runs one order for e under the store's lock, saves the result
// and reports the outcome.
func (m *Manager) attempt(ctx context.Context, e *entry, force bool) (err error) {
	m.materialize(ctx, e)
	m.mu.Lock()
	c := e.spec
	before := e.held
	m.mu.Unlock()
	log := m.cfg.Logger.With("name", c.Name)
	lockName, err := m.certs.ObtainLock(c.Issuer.Client.DirectoryURL, c.Name)
	if err != nil {
		return m.fail(ctx, e, err) // not met: Manage checked the name and CA
	}

	// With a store that fences (cluster mode), ctx becomes the fenced
	// context: the order stops when the lock is lost, and saving fails
	// if it was lost meanwhile, so a late instance cannot overwrite the
	// next one's certificate.
	stop := progress.Watch(ctx, log, progress.Threshold, "waiting for the store's lock: another process is ordering this certificate",
		slog.String("lock", lockName))
	ctx, unlock, err := m.lockOrder(ctx, lockName, force)
	stop()
	if errors.Is(err, store.ErrLockBusy) {
		m.lockBusy(ctx, e)
		return err
	}
	if err != nil {
		return m.fail(ctx, e, fmt.Errorf("taking the store's lock: %w", err))
	}
	m.mu.Lock()
	e.ordering = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		e.ordering = false
		m.mu.Unlock()
		if uerr := unlock(); uerr != nil {
			log.WarnContext(ctx, "releasing the store's lock", "lock", lockName, "error", uerr)
		}
	}()

	// Another process sharing the store may have renewed it meanwhile.
	// finish: it did, and left an order in flight, to be finished here.
	finish := false
	var res store.CertRecord // none read: what is held is what is stored
	var lerr error
	if m.storedMayDiffer(ctx, c, before) {
		res, lerr = m.certs.LoadCertificate(ctx, c.Issuer.Client.DirectoryURL, c.Name)
	}
	if lerr == nil && len(res.ChainPEM) > 0 {
		h, perr := parseHeld(res)
		if perr == nil && h.revoked != nil {
			m.heldRevoked(e, h)
		}
		if perr == nil && (before == nil || newer(h.leaf, before.leaf)) {
			m.mu.Lock()
			h.covers = covers(h.leaf, e.ids)
			adopt := h.covers && (e.held == nil || newer(h.leaf, e.held.leaf))
			if adopt {
				m.installLocked(e, h)
			}
			now := m.cfg.Clock.Now()
			done := adopt && (force || now.Before(m.dueLocked(e, now)))
			if done {
				e.recovered()
				m.updateDueLocked(e, now)
				m.firstPassDoneLocked(e, nil)
			}
			m.mu.Unlock()
			if adopt {
				log.InfoContext(ctx, "took the certificate another process stored", "not_after", h.leaf.NotAfter)
				m.cfg.Metrics.ObserveExpiry(c.Name, h.leaf.NotAfter)
			}
			if done && m.announceLeft(ctx, e) {
				return nil // its process was killed before its hooks ran
			}
			if finish = done && m.leftOrder(ctx, e); done && !finish {
				m.tookStored(ctx, e)
				return nil
			}
		}
	}

	// A certificate stored by an attempt killed before its hooks ran.
	if !finish && m.announceMarked(ctx, e, force) {
		return nil
	}
	// Another instance may have failed and be backing off.
	if err := m.sharedBackoff(ctx, e, force || finish); err != nil {
		if errors.Is(err, errSkip) {
			return nil
		}
		return err
	}
	// Nothing is ordered that the store could not keep (a directory
	// where the save puts a link: store.Certs.CheckSave).
	if err := m.certs.CheckSave(ctx, c.Issuer.Client.DirectoryURL, c.Name); err != nil {
		return m.fail(ctx, e, err)
	}
	// Orders a holder that lost the lock recorded apart (see orders.go).
	recorded := m.storedOrders(ctx, e, c)

	if c.Prepare != nil {
		release, err := c.Prepare(ctx)
		if err != nil {
			return m.fail(ctx, e, err)
		}
		defer release()
	}

	m.mu.Lock()
	h := e.held
	// hCovers is h.covers as of now: Manage may set it again, under
	// m.mu, when the managed identifiers change.
	hCovers := h != nil && h.covers
	typ := EventObtaining
	if hCovers {
		typ = EventRenewing
	}
	ev := m.eventLocked(e, typ, m.cfg.Clock.Now())
	ev.Attempt = e.state().Failures + 1
	m.mu.Unlock()
	if !finish { // no renewal begins: one ends
		m.emit(ctx, ev)
		m.cfg.Metrics.RenewalAttempt(c.Name)
	}

	req := issue.Request{
		Identifiers:    c.Identifiers,
		KeyType:        c.KeyType,
		Profile:        c.Profile,
		PreferredChain: c.PreferredChain,
		CSR:            c.CSR,
	}
	switch {
	case c.CSR != nil:
	case h.compromised():
		// A new key, whatever ReuseKey or Key say.
		log.WarnContext(ctx, "the certificate was revoked for key compromise: ordering with a new key")
	case c.ReuseKey && h != nil && h.key != nil:
		req.Key = h.key
	case c.Key != nil:
		req.Key = c.Key
	}
	m.mu.Lock()
	refused := e.state().ReplacesRefused
	if !force && !finish && e.state().PendingOrder != "" && m.dueHeldLocked(e, m.cfg.Clock.Now()).After(m.cfg.Clock.Now()) {
		// Due only for the order left in flight: it is finished (its
		// certificate stored, if the CA issued it), and no new order is
		// placed for a certificate that is not due.
		finish = true
	}
	req.Resume, req.ResumeOnly = e.state().PendingOrder, finish
	pendingKey := e.state().PendingKey
	m.mu.Unlock()
	// An order with a new key: the key is made here and kept with the
	// order in flight, so that an order the CA has finalized by the time
	// the next attempt looks at it can be continued (its certificate is
	// for this key) rather than placed again.
	var keyPEM string
	newKey := c.CSR == nil && req.Key == nil
	makeKey := func() error {
		k, err := keys.Generate(c.KeyType)
		if err != nil {
			return fmt.Errorf("new private key: %w", err)
		}
		b, err := keys.MarshalPEM(k)
		if err != nil {
			return fmt.Errorf("new private key: %w", err)
		}
		req.Key, keyPEM = k, string(b)
		return nil
	}
	if newKey {
		if req.Resume != "" && pendingKey != "" {
			if k, err := keys.ParsePEM([]byte(pendingKey)); err == nil {
				req.Key, keyPEM = k, pendingKey
			}
		}
		if req.Key == nil {
			if err := makeKey(); err != nil {
				return m.fail(ctx, e, err)
			}
		}
	}
	// The order placed is recorded at once, with its key, so that an
	// attempt cut short (Ctrl-C, a kill, the lock lost) is continued by
	// the next one rather than placed again; it is forgotten when the
	// attempt ends otherwise.
	req.OnOrder = func(url string) {
		if m.orderNoted(ctx, e, c, url, keyPEM) {
			m.mu.Lock()
			recorded = append(recorded, url)
			m.mu.Unlock()
		}
	}
	// forgetOrder drops it: the attempt ended other than cut short (an
	// order that failed is invalid and could not be continued anyway).
	forgetOrder := func() {
		m.mu.Lock()
		e.orderForgotten()
		m.mu.Unlock()
	}
	if hCovers && !refused && !finish && m.offersARI(ctx, c, h) {
		if req.Replaces, err = acme.ARICertID(h.leaf); err != nil {
			log.WarnContext(ctx, "cannot name the certificate replaced", "error", err)
			req.Replaces = ""
		}
	}
	start := time.Now()
	ic, err := m.obtain(ctx, c, req)
	if err == nil && req.Resume != "" && h != nil && ic.Leaf != nil && (ic.Leaf.Equal(h.leaf) || newer(h.leaf, ic.Leaf)) {
		// The order resumed gave the certificate held: the attempt that
		// placed it stored its certificate and was cut short (killed)
		// before its state forgot the order. Or one older than it: an
		// order recorded by a holder that lost the lock, finished long
		// since. That order is done; this attempt orders anew, with a
		// new key if it makes one (unless it only finishes one).
		if finish {
			err = fmt.Errorf("%w: it gave the certificate held", issue.ErrNotResumed)
		} else {
			log.InfoContext(ctx, "the order of an earlier attempt gave the certificate held already; ordering anew", "order", req.Resume)
			req.Resume = ""
			if newKey {
				if err := makeKey(); err != nil {
					return m.fail(ctx, e, err)
				}
			}
			ic, err = m.obtain(ctx, c, req)
		}
	}
	if err != nil && req.Replaces != "" && refusesReplaces(err) {
		// Naming the certificate replaced (RFC 9773 §5) is a courtesy;
		// a CA that refuses the order for any reason other than a rate
		// limit may accept it without: order again at once without it,
		// and not name it again for this certificate. The CA may have a
		// replacement already (alreadyReplaced), which this process does
		// not hold, or fail on the field (a 500, a malformed…).
		m.mu.Lock()
		e.replacesRefused()
		m.mu.Unlock()
		if ctx.Err() == nil {
			log.WarnContext(ctx, "the CA refused the renewal order naming the certificate it replaces; ordering again without replaces",
				"replaces", req.Replaces, "error", err)
			req.Replaces = ""
			req.Resume = "" // a new order, whatever the refused one was
			ic, err = m.obtain(ctx, c, req)
		} else {
			log.WarnContext(ctx, "the CA refused the renewal order naming the certificate it replaces and no time is left; the next attempt orders without replaces",
				"replaces", req.Replaces, "error", err)
		}
	}
	m.cfg.Metrics.OrderDuration(time.Since(start))
	// Cancelled, out of time or the lock lost, the order is kept for the
	// next attempt (fail saves the state, or the next holder reads it).
	if err == nil || ctx.Err() == nil && !errors.Is(err, store.ErrLockLost) {
		forgetOrder()
		m.mu.Lock()
		drop := recorded
		m.mu.Unlock()
		m.dropOrders(ctx, c, drop)
	}
	if err != nil && finish && ctx.Err() == nil && !errors.Is(err, store.ErrLockLost) {
		if !errors.Is(err, issue.ErrNotResumed) {
			log.WarnContext(ctx, "the order another process left could not be finished; the certificate held is kept", "error", err)
		}
		m.saveState(ctx, e) // not a failure: what is held is not due
		return nil
	}
	if err != nil {
		return m.fail(ctx, e, err)
	}
	nh, err := m.save(ctx, c, ic)
	if nh != nil {
		m.mu.Lock()
		nh.covers = covers(nh.leaf, e.ids)
		m.installLocked(e, nh)
		m.mu.Unlock()
		m.cfg.Metrics.ObserveExpiry(c.Name, nh.leaf.NotAfter)
	}
	if err != nil {
		return m.fail(ctx, e, err)
	}

	now := m.cfg.Clock.Now()
	m.mu.Lock()
	e.succeeded(now)
	m.updateDueLocked(e, now)
	done := EventObtained
	if typ == EventRenewing {
		done = EventRenewed
	}
	ev = m.eventLocked(e, done, now)
	held := e.held
	heldCovers := held != nil && held.covers
	m.mu.Unlock()
	// The CA's renewal window for the new certificate, if it offers one,
	// so that the state (and list) says when it will really be renewed.
	if heldCovers {
		m.firstRenewalInfo(ctx, e, held, now) // saved below
	}
	m.announceNew(ctx, e, ev) // the hooks, then the state
	m.cfg.Metrics.LastSuccess(c.Name, now)
	m.firstPassDone(e, nil) // after the hooks: Ready means deployed
	return nil
}

// offersARI reports whether the CA offers renewal information for h; the
// acme.Client caches its directory, so this is cheap. The answer of the
// fetch the check before this attempt made for h (refreshDue) is taken
// until that fetch's ARIRetryAfter, rather than asking again.
func (m *Manager) offersARI(ctx context.Context, c Spec, h *held) bool {
	m.mu.Lock()
	e := m.entries[c.Name]
	var zero state
	var st *state
	if e != nil {
		st = e.peekState(&zero) // a lazy entry stays stateless
	}
	known := e != nil && !st.ARIWindowEnd.IsZero()
	if !known && e != nil && e.ariFor == serial(h.leaf) && m.cfg.Clock.Now().Before(st.ARIRetryAfter) {
		ok := e.ariOK
		m.mu.Unlock()
		return ok
	}
	m.mu.Unlock()
	if known {
		return true
	}
	_, err := m.renewalInfo(ctx, c, h.leaf)
	return !errors.Is(err, errNoARI) && err == nil
}

// fail records a failed attempt, schedules the next one and raises the
// alarms. It returns err. An attempt cut short because ctx is done (Run
// is stopping) is logged and not counted.
func (m *Manager) fail(ctx context.Context, e *entry, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		m.mu.Lock()
		name := e.spec.Name
		lost := errors.Is(context.Cause(ctx), store.ErrLockLost) || errors.Is(err, store.ErrLockLost)
		if lost && e.held != nil && e.held.covers {
			// Obtained and served, the lock lost before it was stored:
			// the next holder may store this very certificate, which
			// the watch would not take as newer. Ready waits no more.
			m.firstPassDoneLocked(e, nil)
		}
		m.mu.Unlock()
		m.cfg.Logger.InfoContext(ctx, "order abandoned", "name", name, "error", err)
		return err
	}
	now := m.cfg.Clock.Now()
	retryAfter, _ := acme.RetryAfter(err)
	m.mu.Lock()
	alarm := m.attemptFailedLocked(e, err, retryAfter, now)
	st := e.state()
	ev := m.eventLocked(e, EventFailed, now)
	ev.Err, ev.Attempt, ev.NextAttempt = err, st.Failures, st.NextAttempt
	m.mu.Unlock()
	m.saveState(ctx, e)
	m.cfg.Metrics.RenewalFailure(ev.Name)
	m.emit(ctx, ev)
	if alarm != "" {
		ev.Type = alarm
		m.emit(ctx, ev)
	}
	m.firstPassDone(e, err)
	return err
}

// eventLocked makes an event about e.
func (m *Manager) eventLocked(e *entry, t EventType, now time.Time) Event {
	ev := Event{Type: t, Time: now, Name: e.spec.Name, Identifiers: e.ids}
	if e.held != nil {
		ev.NotAfter = e.held.leaf.NotAfter
	}
	ev.Paths = m.paths(e)
	return ev
}

func (m *Manager) firstPassDone(e *entry, err error) {
	m.mu.Lock()
	m.firstPassDoneLocked(e, err)
	m.mu.Unlock()
}

// RenewIfDue renews the named certificate if it is due now (see DueAt)
// and returns once the order, if any, has ended. It reports whether an
// order was due and the error of that order. A certificate that another
// process sharing the store renewed meanwhile is taken without an order
// (see Renew). It is what a command that renews "whatever is due" calls
// for each certificate, so that it renews exactly when the daemon would.
func (m *Manager) RenewIfDue(ctx context.Context, name string) (due bool, err error) {
	when, err := m.DueAt(ctx, name)
	if err != nil {
		return false, err
	}
	if m.cfg.Clock.Now().Before(when) {
		return false, nil
	}
	m.mu.Lock()
	e := m.entries[name]
	m.mu.Unlock()
	if e == nil {
		return false, fmt.Errorf("%w: %q", ErrNotManaged, name)
	}
	return true, m.join(ctx, e, false, context.WithoutCancel(ctx), nil)
}
