package manager

import (
	"time"

	"github.com/certkeeper/certkeeper/store"
)

// The transitions of one managed certificate's state: what an entry
// holds (held, lazy, r), its persisted state (st) and what is worked
// out from them (due, busyUntil, panicAt, ariFor, ariOK). The rest of
// the package reads these fields but changes them only through the
// methods below, so that each rule (what a new certificate keeps, what a
// success clears, how failures back off) is written once.
//
// Every method here expects the caller to hold Manager.mu, or to own e
// alone (an entry that Manage or materialize is still building and has
// not put in Manager.entries).

// state returns e's state, giving it an empty one first if it has none
// (a lazy entry; see entry.st): for what writes it or is about to act on
// it.
func (e *entry) state() *state {
	if e.st == nil {
		e.st = &state{}
		if l := e.lazy; l != nil {
			e.st.Serial, e.st.RenewDraw = l.serial, e.r
			e.st.ARIRenewAt, e.st.ARIRetryAfter = l.renewAt, l.recheck
		}
	}
	return e.st
}

// peekState returns e's state for reading, or zero: it gives e none, so
// that scheduling or looking at 100,000 lazy entries allocates nothing
// and leaves them stateless.
func (e *entry) peekState(zero *state) *state {
	if e.st == nil {
		if l := e.lazy; l != nil {
			zero.ARIRenewAt, zero.ARIRetryAfter = l.renewAt, l.recheck
		}
		return zero
	}
	return e.st
}

// compact drops the state of e, lazy, when scheduling needs no more of
// it than its summary keeps (the CA's moment and the time to ask again:
// no failure, no order in flight, no alarm sent): a state is some 400
// bytes, and a storm of N renewals left N of them, above the 1 KB a
// certificate nobody asked for may cost. Nothing is lost: materialize
// reads the state from the store again, as it always did.
func (e *entry) compact() {
	st, l := e.st, e.lazy
	if st == nil || l == nil || st.Failures > 0 || !st.NextAttempt.IsZero() || st.LastError != "" ||
		st.PendingOrder != "" || st.ReplacesRefused || st.ExpiringSoonSent || e.announce != "" || e.staleState {
		return
	}
	l.renewAt, l.recheck = st.ARIRenewAt, st.ARIRetryAfter
	e.st = nil
}

// forNewCertificate drops what belonged to the previous certificate (its
// serial, validity, renewal information, alarms, draw and refused
// replaces) and keeps the failure record and the order in flight, which
// are about the name, not about a certificate.
func (s state) forNewCertificate() state {
	return state{
		Name: s.Name, Identifiers: s.Identifiers,
		LastAttempt: s.LastAttempt, LastSuccess: s.LastSuccess, LastError: s.LastError,
		Failures: s.Failures, NextAttempt: s.NextAttempt,
		PendingOrder: s.PendingOrder, PendingKey: s.PendingKey,
		Announced: s.Announced,
	}
}

// loaded sets what Manage's load read from the store: the certificate h
// (nil if none) and the state st. A state about another certificate
// than h (the one replaced, when a process stored a renewal and died or
// failed before it wrote the state) is kept only for what is not about
// a certificate (forNewCertificate), and marked stale so that Manage
// writes it again for h, unless h was stored by an attempt killed before
// it announced h: e is then marked to announce it (see announceLeft),
// which writes the state.
func (e *entry) loaded(h *held, st state) {
	e.held = h
	e.announce = st.unannounced(h)
	if h == nil || st.Serial != serial(h.leaf) {
		e.staleState = h != nil && st.Serial != "" && e.announce == ""
		st = st.forNewCertificate()
		if h != nil {
			st.Serial = serial(h.leaf)
		}
	}
	e.st = &st
}

// takeStale reports whether load marked e's state stale, and clears the
// mark: the caller saves the state again.
func (e *entry) takeStale() bool {
	stale := e.staleState
	e.staleState = false
	return stale
}

// takeLoaded takes what was loaded into from (by load, materialize's
// read or lazyFromIndex): the certificate held or its summary, the state
// and the draw. The caller draws again (Manager.drawLocked) for a parsed
// certificate.
func (e *entry) takeLoaded(from *entry) {
	e.held, e.st, e.lazy, e.r = from.held, from.st, from.lazy, from.r
	e.announce = from.announce
}

// fromIndex makes e lazy: lz summarizes the certificate held, r is its
// draw, and s is the schedule the index keeps for it; e has a state
// only if s says a failure: the moment in the CA's window and the time
// to fetch renewal information again go in lz (see compact).
func (e *entry) fromIndex(lz *lazy, r float64, s store.Schedule) {
	e.lazy, e.r, e.st = lz, r, nil
	if s.Serial == lz.serial {
		lz.renewAt, lz.recheck = s.RenewAt, s.Recheck
		if s.Failures > 0 || s.LastError != "" {
			st := e.state()
			st.Failures, st.NextAttempt, st.LastError = s.Failures, s.NextAttempt, s.LastError
		}
	}
}

// notFromIndex undoes fromIndex: e is to be read from the store.
func (e *entry) notFromIndex() { e.lazy, e.st = nil, nil }

// evict turns e's parsed certificate back into its summary (see
// lazy.go); the state stays, and so does the record of the last fetch of
// renewal information (ariFor, a serial: nothing of the parsed
// certificate stays in memory past the cache's bound).
func (e *entry) evict() {
	l := e.held.leaf
	e.lazy = &lazy{notBefore: l.NotBefore, notAfter: l.NotAfter, serial: serial(l)}
	e.held = nil
	e.compact()
}

// newCertificate makes h, a certificate newer than the one held, e's:
// the state drops what was about the previous certificate and keeps the
// failure record and the order in flight (forNewCertificate); a success
// clears those (succeeded). The caller then draws (drawLocked) and
// serves it (Manager.installLocked).
func (e *entry) newCertificate(h *held) {
	// ariFor was about the previous certificate.
	e.held, e.lazy, e.ariFor, e.ariOK = h, nil, "", false
	ns := e.state().forNewCertificate()
	ns.Serial = serial(h.leaf)
	e.st = &ns
}

// drawLocked gives e the draw of its renewal moment: the one its state
// keeps for the certificate held; else, unless Config.Rand was given,
// RenewalDraw of the certificate, which every process computes alike, so
// that all of them (and list) renew it at the same moment without having
// written anything; else a draw of Config.Rand.
func (m *Manager) drawLocked(e *entry) {
	if d := e.state().RenewDraw; d > 0 && d < 1 {
		e.r = d
		return
	}
	if m.ownRand && e.held != nil {
		e.r = RenewalDraw(e.held.leaf)
	} else {
		e.r = m.cfg.Rand()
	}
	e.state().RenewDraw = e.r
}

// updateDueLocked works out again when e is due (dueLocked) at now,
// records it and returns it.
func (m *Manager) updateDueLocked(e *entry, now time.Time) time.Time {
	e.due = m.dueLocked(e, now)
	return e.due
}

// backingOff reports whether e failed and its next attempt is after now.
func (e *entry) backingOff(now time.Time) bool {
	var zero state
	st := e.peekState(&zero)
	return st.Failures > 0 && st.NextAttempt.After(now)
}

// lockBusy records that another instance holds e's lock in the store:
// e is not due before until.
func (e *entry) lockBusy(until time.Time) { e.busyUntil = until }

// notBusy records that no other instance is known to hold e's lock: this
// one took it, or the certificate the other one stored has arrived.
func (e *entry) notBusy() { e.busyUntil = time.Time{} }

// orderPlaced records the order an attempt placed, and the private key
// (PEM, "" when the order does not use a new key) its request is made
// with, so that an attempt cut short is continued by the next one.
func (e *entry) orderPlaced(url, keyPEM string) {
	st := e.state()
	st.PendingOrder, st.PendingKey = url, keyPEM
}

// orderForgotten drops the order in flight: the attempt ended other than
// cut short.
func (e *entry) orderForgotten() { e.orderPlaced("", "") }

// orderAsStored takes the order in flight that stored says, read under
// the store's lock: that of another instance that died holding the lock
// is continued by this one.
func (e *entry) orderAsStored(stored state) { e.orderPlaced(stored.PendingOrder, stored.PendingKey) }

// announced records that the event of the certificate held was sent
// (its hooks run): the state saved next says so, and e is not to be
// announced again.
func (e *entry) announced() {
	e.announce = ""
	if e.held != nil {
		e.state().Announced = serial(e.held.leaf)
	}
}

// replacesRefused records that the CA refused an order naming the
// certificate held as the one it replaces (RFC 9773 §5): orders for it
// do not name it again. A new certificate forgets it.
func (e *entry) replacesRefused() { e.state().ReplacesRefused = true }

// recovered records that e needs no retry: a certificate that another
// process stored is taken and not due. The last attempt and success of
// this process stay as they were.
func (e *entry) recovered() {
	st := e.state()
	st.Failures, st.NextAttempt, st.LastError = 0, time.Time{}, ""
}

// succeeded records an attempt that ended at now with a new certificate
// (installed before, newCertificate): no failure, no order in flight.
func (e *entry) succeeded(now time.Time) {
	e.recovered()
	e.orderForgotten()
	st := e.state()
	st.LastAttempt, st.LastSuccess = now, now
}

// attemptFailedLocked records an attempt that failed at now with err,
// the CA's Retry-After being retryAfter (zero if none): one failure more,
// the next attempt after the backoff for that many failures
// (policy.retryAt), and e's due moment moved accordingly. The order in
// flight, if any, is kept (the caller forgets it first if it cannot be
// continued). It returns the alarm to raise besides EventFailed, or "":
// EventExpiringSoon only once per certificate, EventPanic each time
// (and noted in panicAt, see stillPanicking).
func (m *Manager) attemptFailedLocked(e *entry, err error, retryAfter, now time.Time) EventType {
	st := e.state()
	st.Failures++
	var nb, na time.Time
	if h := e.held; h != nil {
		// The certificate held, even one that lacks a name added since
		// (its order is what failed): it is served until it expires,
		// which is what the alarm is about.
		nb, na = h.leaf.NotBefore, h.leaf.NotAfter
	}
	st.NextAttempt = m.pol.retryAt(now, st.Failures, retryAfter, na, m.cfg.Rand())
	st.LastError = err.Error()
	st.LastAttempt = now
	m.updateDueLocked(e, now)
	alarm := m.pol.alarm(nb, na, now)
	switch alarm {
	case EventExpiringSoon:
		if st.ExpiringSoonSent {
			alarm = ""
		}
		st.ExpiringSoonSent = true
	case EventPanic:
		e.panicRaised(now)
	}
	return alarm
}

// panicRaised records that EventPanic was sent for e at t.
func (e *entry) panicRaised(t time.Time) { e.panicAt = t }

// ariNotOffered records that the CA offers no renewal information for
// h, the certificate held: no window, and ask again at retry.
func (e *entry) ariNotOffered(h *held, retry time.Time) {
	e.ariFor, e.ariOK = serial(h.leaf), false
	st := e.state()
	st.ARIWindowStart, st.ARIWindowEnd, st.ARIRenewAt = time.Time{}, time.Time{}, time.Time{}
	st.ARIRetryAfter = retry
}

// ariLater records that renewal information for the certificate held is
// not fetched before retry (nothing is known of it yet).
func (e *entry) ariLater(retry time.Time) { e.state().ARIRetryAfter = retry }

// ariFailed records a fetch of renewal information for h, the
// certificate held, that failed (answered is false) or gave a window
// not meant for h (answered is true): the previous window stays, and
// the fetch is made again at retry.
func (e *entry) ariFailed(h *held, answered bool, retry time.Time) {
	e.ariFor, e.ariOK = serial(h.leaf), answered
	e.state().ARIRetryAfter = retry
}

// ariReceived records the window [start, end] that the CA suggests for
// renewing h, the certificate held (RFC 9773 §4.2), and when to fetch
// it again (retry). A window other than the one recorded gets a new
// moment in it, from pick; the same one keeps its moment. It reports
// whether the window changed.
func (e *entry) ariReceived(h *held, start, end, retry time.Time, pick func() time.Time) (changed bool) {
	e.ariFor, e.ariOK = serial(h.leaf), true
	st := e.state()
	changed = !start.Equal(st.ARIWindowStart) || !end.Equal(st.ARIWindowEnd)
	if changed {
		st.ARIWindowStart, st.ARIWindowEnd = start, end
		st.ARIRenewAt = pick()
	}
	st.ARIRetryAfter = retry
	return changed
}

// adoptState takes the stored state st in place of e's if it is about
// the certificate e holds (or no certificate) and was written after e's
// last attempt: another instance sharing the store failed, or fetched
// renewal information, since. A state about no certificate (written
// before any, or for a failure only) keeps what belongs to the
// certificate held. It reports whether it took st.
func (e *entry) adoptState(st state) bool {
	var cur string
	if e.held != nil {
		cur = serial(e.held.leaf)
	}
	if st.Serial != cur && st.Serial != "" || !st.LastAttempt.After(e.state().LastAttempt) {
		return false
	}
	keep := *e.state()
	if st.Serial == "" {
		st.Serial = keep.Serial
		st.ARIWindowStart, st.ARIWindowEnd = keep.ARIWindowStart, keep.ARIWindowEnd
		st.ARIRenewAt, st.ARIRetryAfter = keep.ARIRenewAt, keep.ARIRetryAfter
	}
	e.st = &st
	return true
}

// saving returns e's state as it is to be saved now, with what the
// entry knows besides (name, identifiers, CA, the certificate's
// validity), and records that the store now says e is due at e.due.
func (e *entry) saving() state {
	e.state().NextRenewal = e.due
	s := *e.st
	s.Name, s.Identifiers, s.NextRenewal = e.spec.Name, e.ids, e.due
	s.CA = e.spec.Issuer.Client.DirectoryURL
	if e.held != nil {
		s.NotBefore, s.NotAfter = e.held.leaf.NotBefore, e.held.leaf.NotAfter
	}
	return s
}

// unmanaged records that e is no longer managed: an order under way
// ends in it, but it is not queued or served again.
func (e *entry) unmanaged() { e.removed = true }

// specOf returns e's Spec as it is now. Manage replaces the Spec of an
// entry it keeps (a reload with changed settings) under m.mu, while the
// entry's attempt may be running: code that does not hold m.mu reads the
// Spec through here, never e.spec directly. It takes m.mu.
func (m *Manager) specOf(e *entry) Spec {
	m.mu.Lock()
	defer m.mu.Unlock()
	return e.spec
}
