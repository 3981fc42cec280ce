package manager

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// needsFirstPass reports whether e is missing, expired or inside the panic
// interval: the certificates Ready waits for.
func (m *Manager) needsFirstPass(e *entry, now time.Time) bool {
	if e.lazy != nil {
		return false // lazyFromIndex took only those that are fine
	}
	if e.held == nil || !e.held.covers || e.held.revoked != nil {
		return true
	}
	l := e.held.leaf
	return now.Add(m.pol.panicLeft(l.NotBefore, l.NotAfter)).After(l.NotAfter)
}

// firstPassDoneLocked records the outcome of e's first attempt for Ready.
func (m *Manager) firstPassDoneLocked(e *entry, err error) {
	if !e.initial {
		return
	}
	e.initial = false
	if err != nil {
		m.readyErrs[e.spec.Name] = fmt.Errorf("%s: %w", e.spec.Name, err)
	} else {
		delete(m.readyErrs, e.spec.Name)
	}
	m.pending--
	if m.pending == 0 {
		close(m.readyCh)
	}
}

// Ready returns once the first attempt has been made for every certificate
// that was missing, expired or inside the panic interval when it was given
// to Manage, whether it succeeded or not: the errors of those attempts are
// joined in the result. It returns at once if there are none. A
// certificate whose previous run left it backing off counts as attempted,
// with the error that run recorded. The attempts are made by Run (or
// Renew); Ready only waits for them, or for ctx.
func (m *Manager) Ready(ctx context.Context) error {
	for {
		m.mu.Lock()
		if m.pending == 0 {
			errs := make([]error, 0, len(m.readyErrs))
			for _, n := range slices.Sorted(maps.Keys(m.readyErrs)) {
				errs = append(errs, m.readyErrs[n])
			}
			m.mu.Unlock()
			return errors.Join(errs...)
		}
		ch := m.readyCh
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
