package manager

import (
	"context"
)

// Announcing a certificate left unannounced. An attempt that stores a
// certificate sends EventObtained or EventRenewed, whose hooks deploy it
// (reload a web server...), and then saves the state naming the
// certificate announced (state.Announced), in the one write of the
// state that a success makes. Killed (kill -9, a power loss) after the
// store switched to the new certificate and before that write, it leaves
// the new certificate live while its hooks never ran, and the state
// still names the order it placed: the next Manager that loads the
// certificate (a restart, the next `renew`) sees it (entry.announce),
// makes it due at once, and its attempt sends the event under the
// store's lock, once: the process that stored a certificate holds the
// lock until its state is saved, so a Manager sharing the store that
// loaded the certificate meanwhile finds it announced when it gets the
// lock, and runs no hook.

// announceNew sends ev, the event of the certificate e's attempt has
// just stored (its hooks run), and then saves e's state, which records
// it announced: the one write of the state a success makes, after the
// hooks, so that a kill before it leaves a state that says so.
func (m *Manager) announceNew(ctx context.Context, e *entry, ev Event) {
	m.emit(ctx, ev)
	m.mu.Lock()
	e.announced()
	m.mu.Unlock()
	m.saveState(ctx, e)
}

// announceLeft runs under e's store lock (in attempt) with e.held the
// certificate stored. If the state stored says that the attempt which
// stored it did not announce it (state.unannounced), it sends that event
// now (the hooks run), records it announced with no order in flight (the
// order is the one that gave it) and saves the state; else it only
// forgets e's mark. It reports whether it announced.
func (m *Manager) announceLeft(ctx context.Context, e *entry) bool {
	st, err := m.loadState(ctx, e)
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	h := e.held
	typ := e.announce // what load saw, if the state cannot be read now
	if err == nil {
		typ = st.unannounced(h)
	}
	if typ == "" || h == nil {
		e.announce = ""
		m.updateDueLocked(e, now)
		m.mu.Unlock()
		return false
	}
	e.recovered()
	e.orderForgotten()
	ev := m.eventLocked(e, typ, now)
	m.mu.Unlock()
	m.cfg.Logger.WarnContext(ctx, "the attempt that stored this certificate was cut short before its hooks ran (killed?): announcing it now",
		"name", ev.Name, "event", string(typ), "serial", serial(h.leaf), "not_after", h.leaf.NotAfter)
	m.emit(ctx, ev)
	m.mu.Lock()
	e.announced()
	m.updateDueLocked(e, now)
	m.mu.Unlock()
	m.saveState(ctx, e)
	m.firstPassDone(e, nil) // after the hooks: Ready means deployed
	return true
}

// announceMarked runs under e's store lock (in attempt), when no
// certificate newer than e's was found there: if load marked e's
// certificate unannounced, it announces it (announceLeft). It reports
// whether the attempt is over: the certificate was announced and,
// unless force, is not due.
func (m *Manager) announceMarked(ctx context.Context, e *entry, force bool) bool {
	m.mu.Lock()
	marked := e.announce != ""
	m.mu.Unlock()
	if !marked || !m.announceLeft(ctx, e) {
		return false
	}
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	return !force && e.held.covers && now.Before(m.dueLocked(e, now))
}

// tookStored ends an attempt that took the certificate another process
// stored, under the lock, with nothing left to do (announced, no order in
// flight): the state that process wrote after the certificate, if it is
// about it, becomes e's as it is, not written over with e's copy, read
// before the lock, which may still name that process's order in flight
// and the certificate it announced before (the next run would announce
// the new one again, its hooks twice). A state about another certificate,
// or none, is written from e's, with no order in flight.
func (m *Manager) tookStored(ctx context.Context, e *entry) {
	st, err := m.loadState(ctx, e)
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	if err == nil && e.held != nil && st.Serial == serial(e.held.leaf) && st.PendingOrder == "" {
		e.st = &st
		m.updateDueLocked(e, now)
		m.mu.Unlock()
		return
	}
	e.orderForgotten()
	m.mu.Unlock()
	m.saveState(ctx, e)
}
