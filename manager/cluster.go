package manager

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/certkeeper/certkeeper/store"
)

// Cluster mode: several Managers, in several processes or machines, that
// share one distributed store. Nothing needs configuring: a Manager
// adapts to what its store offers.
//
//   - A store.FencedLocker makes orders fenced. The background loop takes
//     the per-certificate lock without waiting (TryLockFenced): while
//     another instance orders a certificate, this one looks again after
//     ClusterBusyRetry instead of tying up a worker, and meanwhile learns
//     of the result through the watch. Renew waits for the lock.
//   - A store.Watcher lets Run follow the store: a certificate that
//     another instance stored is loaded into Lookup's snapshot at once,
//     and the renewal state that another instance recorded (failures,
//     backoff after the CA's Retry-After, renewal information) replaces
//     this one's if it is newer, so that no instance orders what another
//     is backing off from.
//
// After taking the lock an instance re-reads both the certificate (another
// may have just renewed it) and the state (another may have just failed),
// so the watch is an optimisation: correctness rests on the lock.

// ClusterBusyRetry is how long the background loop waits before looking
// again at a certificate whose lock another instance holds, spread by the
// Manager's jitter. A certificate stored meanwhile arrives through the
// watch sooner.
const ClusterBusyRetry = 5 * time.Second

// lockOrder takes the store's lock for an order: fenced and without
// waiting in the background when the store supports it (force says a
// caller waits for this order), the plain Store.Lock otherwise. It
// returns the context to carry on with.
func (m *Manager) lockOrder(ctx context.Context, name string, force bool) (context.Context, func() error, error) {
	fl, ok := m.cfg.Store.(store.FencedLocker)
	if !ok {
		unlock, err := m.cfg.Store.Lock(ctx, name)
		return ctx, unlock, err
	}
	var (
		fctx   context.Context
		unlock func() error
		err    error
	)
	if force {
		fctx, unlock, err = fl.LockFenced(ctx, name)
	} else {
		fctx, unlock, err = fl.TryLockFenced(ctx, name)
	}
	if err != nil {
		return ctx, nil, err
	}
	return fctx, unlock, nil
}

// lockBusy records that another instance holds e's lock.
func (m *Manager) lockBusy(ctx context.Context, e *entry) {
	now := m.cfg.Clock.Now()
	wait := time.Duration(float64(ClusterBusyRetry) * (1 + m.cfg.Jitter*m.cfg.Rand()))
	m.mu.Lock()
	e.lockBusy(now.Add(wait))
	name := e.spec.Name
	m.mu.Unlock()
	m.cfg.Logger.DebugContext(ctx, "another instance is ordering this certificate", "name", name, "retry_in", wait)
}

// errSkip ends an attempt that found nothing to do: attempt returns nil.
var errSkip = errors.New("manager: not due any more")

// sharedBackoff runs under e's lock, before ordering. Unless force, it
// returns errSkip if e is no longer due (a certificate another instance
// stored arrived through the watch since the attempt began). If another
// instance recorded a failure after this one's last attempt and is
// backing off, this one adopts that state and does not order (unless
// force). It returns the error to report, or nil to go ahead.
func (m *Manager) sharedBackoff(ctx context.Context, e *entry, force bool) error {
	m.mu.Lock()
	e.notBusy()
	c := e.spec
	m.mu.Unlock()
	if _, fenced := m.cfg.Store.(store.FencedLocker); fenced {
		// attempt's re-read ignores a store that cannot be read; in a
		// cluster that could be a certificate another instance just
		// stored, so do not order blind.
		_, err := m.certs.LoadCertificate(ctx, c.Issuer.Client.DirectoryURL, c.Name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("re-reading the certificate under the lock: %w", err)
		}
	}
	st, err := m.loadState(ctx, e)
	if err != nil {
		return nil // unreadable state is no reason to stop
	}
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	// The order in flight is what the store says under the lock: that
	// of another instance that died holding it is continued here, and
	// one this process read before another finished it is forgotten.
	pending := e.state().PendingOrder
	e.orderAsStored(st)
	if !force && e.held != nil && e.held.covers && now.Before(m.dueLocked(e, now)) {
		// The check that started this attempt saw it due, but the
		// certificate another instance stored has arrived since (or
		// the order it saw in flight was finished meanwhile).
		if pending != "" && st.PendingOrder == "" {
			m.updateDueLocked(e, now)
		}
		m.firstPassDoneLocked(e, nil)
		m.mu.Unlock()
		return errSkip
	}
	adopted := e.adoptState(st)
	e.orderAsStored(st)
	backingOff := !force && e.backingOff(now)
	last := e.state().LastError
	next := e.state().NextAttempt
	if adopted {
		m.scheduleLocked(e, now, now)
	}
	m.mu.Unlock()
	if !backingOff {
		return nil
	}
	// Backing off, from a state adopted now or through the watch since
	// the check that started this attempt (which found e due).
	err = fmt.Errorf("another instance failed and retries at %s: %s", next.Format(time.RFC3339), last)
	m.cfg.Logger.InfoContext(ctx, "backing off like the instance that failed", "name", c.Name, "next_attempt", next)
	m.firstPassDone(e, err)
	return err
}

// follow watches the store while Run runs, and takes into memory what
// other instances store. It restarts the watch if it fails.
func (m *Manager) follow(ctx context.Context, w store.Watcher) {
	for ctx.Err() == nil {
		// One watch of everything: certificates/ and manager/ in the
		// standard layout, "<name>.pem" at the top in the shared one.
		ch, err := w.Watch(ctx, "")
		if err != nil {
			m.cfg.Logger.WarnContext(ctx, "cannot watch the store; retrying", "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		// What changed before the watch began is not in it: read again
		// the certificates this instance lacks or waits for.
		m.mu.Lock()
		var lacking []*entry
		for _, e := range m.entries {
			if e.held == nil || !e.held.covers || !e.busyUntil.IsZero() {
				lacking = append(lacking, e)
			}
		}
		m.mu.Unlock()
		for _, e := range lacking {
			m.reload(ctx, e, true)
		}
		for ev := range ch {
			m.changed(ctx, ev)
		}
	}
}

// changed handles one change of the store.
func (m *Manager) changed(ctx context.Context, ev store.WatchEvent) {
	if ev.Reset {
		m.mu.Lock()
		es := make([]*entry, 0, len(m.entries))
		for _, e := range m.entries {
			es = append(es, e)
		}
		m.mu.Unlock()
		for _, e := range es {
			m.reload(ctx, e, true)
		}
		return
	}
	if ev.Deleted {
		return // a deleted certificate stays served until it is renewed
	}
	caDir, enc, isState, ok := m.parseKey(ev.Key)
	if !ok {
		return
	}
	m.mu.Lock()
	var e *entry
	for _, c := range m.entries {
		if c.enc == enc && (caDir == "" || c.caDir == caDir) {
			e = c
			break
		}
	}
	m.mu.Unlock()
	if e != nil {
		m.reload(ctx, e, !isState)
	}
}

// parseKey tells which certificate a changed key is about (see
// store.Certs.WhatChanged): the commit of a save, or its state. caDir is
// "" in the shared layout.
func (m *Manager) parseKey(key string) (caDir, enc string, isState, ok bool) {
	ch := m.certs.WhatChanged(key)
	if ch.Kind == store.ChangeOther {
		return "", "", false, false
	}
	enc, err := store.EncodeName(ch.Name)
	if err != nil {
		return "", "", false, false
	}
	return ch.CADir, enc, ch.Kind == store.ChangeState, true
}

// reload reads e's certificate (if cert) and state from the store and
// takes them if they are newer than what e holds.
func (m *Manager) reload(ctx context.Context, e *entry, cert bool) {
	c := m.specOf(e)
	log := m.cfg.Logger.With("name", c.Name)
	var h *held
	if cert {
		res, err := m.certs.LoadCertificate(ctx, c.Issuer.Client.DirectoryURL, c.Name)
		if err == nil && len(res.ChainPEM) > 0 {
			h, err = parseHeld(res)
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, fs.ErrNotExist) {
			log.DebugContext(ctx, "stored certificate changed but cannot be read yet", "error", err)
		}
	}
	st, stErr := m.loadState(ctx, e)
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	installed := false
	if h != nil {
		h.covers = covers(h.leaf, e.ids)
		switch {
		case h.covers && (e.held == nil || newer(h.leaf, e.held.leaf)):
			m.installLocked(e, h)
			e.notBusy()
			installed = true
			m.firstPassDoneLocked(e, nil)
		case h.revoked != nil && e.held != nil && e.held.revoked == nil && serial(h.leaf) == serial(e.held.leaf):
			// The certificate held, revoked by another process: due
			// at once (dueLocked), with a new key.
			e.held.revoked = h.revoked
			m.cfg.Logger.WarnContext(ctx, "the certificate held was revoked by another process; renewing it", "name", c.Name, "serial", serial(h.leaf))
		}
	}
	if stErr == nil && e.adoptState(st) && !installed && e.backingOff(now) {
		// Another instance failed and backs off: that was the first
		// attempt, for Ready, as when Manage loads such a state.
		m.firstPassDoneLocked(e, errors.New(e.state().LastError))
	}
	m.scheduleLocked(e, now, now)
	m.mu.Unlock()
	if installed {
		log.InfoContext(ctx, "took the certificate another instance stored", "not_after", h.leaf.NotAfter)
		m.cfg.Metrics.ObserveExpiry(c.Name, h.leaf.NotAfter)
		m.poke()
	}
}
