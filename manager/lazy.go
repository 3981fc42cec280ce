package manager

import (
	"context"
	"crypto/tls"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/certkeeper/certkeeper/store"
)

// Lazy loading (Config.CacheSize > 0): Manage takes what it needs to
// schedule and serve a certificate that is valid and not due from the
// store's index (store.Certs.Index), without reading the certificate; the
// certificate is read and parsed when first needed (a handshake through
// Load, a check that finds it due, an order), and at most CacheSize
// parsed ones are kept: the others go back to their summary (CLOCK
// eviction, which a Lookup marks as used without a lock).

// lazy is the summary of a certificate held but not parsed, with what
// scheduling needs of its renewal information while the entry has no
// state (renewAt, recheck: the state's ARIRenewAt and ARIRetryAfter;
// see entry.compact).
type lazy struct {
	notBefore, notAfter time.Time
	serial              string
	version             int
	renewAt, recheck    time.Time
}

// slot is what the snapshot maps a name to: the certificate served for
// it, nil while it is not loaded.
type slot struct {
	cert atomic.Pointer[tls.Certificate]
	// ref is set by Lookup, cleared by the eviction hand.
	ref atomic.Bool
	e   *entry
	// notAfter is when the certificate expires, for two certificates
	// that claim one name. Read and written under Manager.mu only
	// (Lookup does not read it): set before the slot is published, and
	// moved later when a renewal keeps the slot (renewSlotLocked).
	notAfter time.Time
}

// lazyFromIndex makes e lazy if the index says it holds a certificate
// that covers it, is not revoked, has its key, and is neither due nor in
// the panic interval at now: such an entry needs nothing from the store
// until a handshake or a check asks for it. It reports whether it did.
func (m *Manager) lazyFromIndex(e *entry, r *store.IndexRecord, now time.Time) bool {
	if r == nil || !r.HasKey || r.Revoked || !r.NotAfter.After(now) {
		return false
	}
	for _, id := range e.ids {
		if !slices.ContainsFunc(r.CertNames, func(n string) bool { return strings.EqualFold(n, id) }) {
			return false
		}
	}
	if now.Add(m.pol.panicLeft(r.NotBefore, r.NotAfter)).After(r.NotAfter) {
		return false
	}
	// The serial is cloned: the index's string is part of its whole line.
	draw := r.Draw
	if !m.ownRand {
		draw = m.cfg.Rand()
	}
	e.fromIndex(&lazy{notBefore: r.NotBefore, notAfter: r.NotAfter, serial: strings.Clone(r.Serial), version: r.Version}, draw, r.Schedule)
	if !m.dueLocked(e, now).After(now) {
		e.notFromIndex()
		return false
	}
	return true
}

// materialize reads and parses e's certificate and state if e is lazy,
// and puts it in the cache. Several callers wait for one read.
func (m *Manager) materialize(ctx context.Context, e *entry) {
	m.mu.Lock()
	for e.loading != nil {
		ch := e.loading
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
		m.mu.Lock()
	}
	if e.lazy == nil {
		m.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	e.loading = ch
	tmp := &entry{spec: e.spec, ids: e.ids, caDir: e.caDir, enc: e.enc, index: -1}
	lz := e.lazy
	m.mu.Unlock()

	m.load(ctx, tmp)

	now := m.cfg.Clock.Now()
	m.mu.Lock()
	defer func() {
		e.loading = nil
		close(ch)
		m.mu.Unlock()
	}()
	if ctx.Err() != nil && tmp.held == nil {
		return // try again later
	}
	e.takeLoaded(tmp)
	m.drawLocked(e)
	stale := tmp.held == nil || serial(tmp.held.leaf) != lz.serial
	if stale {
		// The index was behind the store: rebuild the snapshot, and
		// correct the index for the next start.
		go m.certs.Reindex(context.WithoutCancel(ctx), e.spec.Issuer.Client.DirectoryURL, e.spec.Name)
		if !e.removed {
			m.rebuildLocked()
		}
	} else if e.slot != nil && e.held.tls != nil {
		e.slot.cert.Store(e.held.tls)
	}
	if e.held != nil {
		m.cacheAddLocked(e)
	}
	if !e.removed && !e.checking() {
		m.scheduleLocked(e, now, now)
	}
}

// cacheAddLocked counts e among the parsed certificates, and turns the
// one the hand settles on back into a summary if there are more than
// CacheSize.
func (m *Manager) cacheAddLocked(e *entry) {
	if m.cacheSize <= 0 || e.cached {
		return
	}
	e.cached = true
	if len(m.cache) < m.cacheSize {
		m.cache = append(m.cache, e)
		return
	}
	for range 2 * len(m.cache) {
		v := m.cache[m.hand]
		if v.removed || v.held == nil || m.evictLocked(v) {
			v.cached = false
			m.cache[m.hand] = e
			m.hand = (m.hand + 1) % len(m.cache)
			return
		}
		m.hand = (m.hand + 1) % len(m.cache)
	}
	// Everything is busy or in use: go over capacity for now.
	m.cache = append(m.cache, e)
}

// evictLocked turns v back into a summary unless it was used since the
// hand last passed, or is being checked or ordered.
func (m *Manager) evictLocked(v *entry) bool {
	if v.slot != nil && v.slot.ref.Swap(false) {
		return false
	}
	if v.checking() || v.call != nil || v.loading != nil || !v.held.covers || v.held.revoked != nil || v.held.tls == nil {
		return false
	}
	v.evict()
	if v.slot != nil {
		v.slot.cert.Store(nil)
	}
	return true
}

// Load returns the certificate to serve for serverName, as Lookup does,
// but reads it from the store if it is managed and not in memory (see
// Config.CacheSize): nil, nil if no managed certificate covers the name.
// It is what a TLS handshake calls after Lookup found nothing.
func (m *Manager) Load(ctx context.Context, serverName string) (*tls.Certificate, error) {
	if c := m.Lookup(serverName); c != nil {
		return c, nil
	}
	sl := m.slotOf(serverName)
	if sl == nil {
		return nil, nil
	}
	m.materialize(ctx, sl.e)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.Lookup(serverName), nil
}

// slotOf finds the slot of serverName as Lookup does (allocating).
func (m *Manager) slotOf(serverName string) *slot {
	s := m.snap.Load()
	name := strings.ToLower(strings.TrimSuffix(serverName, "."))
	if sl := s.exact[name]; sl != nil {
		return sl
	}
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return s.wild[name[i+1:]]
	}
	return nil
}

// followIndex learns, from the store's index, of the certificates that
// other processes store, until ctx is done: it looks at the index's
// shards (one Stat each) every IndexPoll and reads only what was
// appended.
func (m *Manager) followIndex(ctx context.Context, mark store.IndexMark) {
	t := m.cfg.Clock.NewTimer(m.cfg.IndexPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		recs, next, err := m.certs.IndexChanges(ctx, mark)
		if err != nil && ctx.Err() == nil {
			m.cfg.Logger.WarnContext(ctx, "cannot read the store's index", "error", err)
		}
		mark = next
		for _, r := range recs {
			if r.Deleted {
				continue // a deleted certificate stays served until renewed
			}
			m.mu.Lock()
			e := m.entries[r.Name]
			var cur string
			revoked := false // known revoked here
			switch {
			case e == nil || e.spec.Issuer.Client.DirectoryURL != r.CA:
				e = nil
			case e.lazy != nil:
				cur = e.lazy.serial
			case e.held != nil:
				cur, revoked = serial(e.held.leaf), e.held.revoked != nil
			}
			m.mu.Unlock()
			// Another certificate, or the one held revoked by another
			// process (certkeeper revoke beside the daemon): due at once.
			if e != nil && (cur != r.Serial || r.Revoked && !revoked) {
				m.reload(ctx, e, true)
			}
		}
		t.Reset(m.cfg.IndexPoll)
	}
}
