package manager

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/certkeeper/certkeeper/store"
)

// Manage adds certificates, or replaces the configuration of those of the
// same names, and loads what the store holds for them into memory at once,
// without any network call, so that Lookup serves them when Manage
// returns. A certificate the store does not hold, or holds for other
// identifiers, is obtained by Run. Manage fails, adding none of them, if a
// Spec is invalid; a stored certificate that cannot be read is
// logged and treated as missing.
func (m *Manager) Manage(ctx context.Context, certs ...Spec) error {
	es := make([]*entry, len(certs))
	seen := make(map[string]bool, len(certs))
	caDirs := map[string]string{} // one string per CA, not per certificate
	for i, c := range certs {
		e, err := newEntry(c, caDirs)
		if err != nil {
			return err
		}
		if len(c.Hooks) > 0 && m.cfg.HookRunner == nil {
			return fmt.Errorf("manager: certificate %q: %w", e.spec.Name, ErrNoHookRunner)
		}
		if seen[e.spec.Name] {
			return fmt.Errorf("manager: certificate %q given twice", e.spec.Name)
		}
		seen[e.spec.Name] = true
		es[i] = e
	}
	// With a cache, the certificates the index says are fine are not
	// read (see lazy.go); a few are read at once all the same.
	toLoad := es
	m.mu.Lock()
	total := len(m.entries) + len(es)
	if m.cfg.CacheSize == 0 && m.cacheSize == 0 && total > m.autoCache {
		m.cacheSize = m.autoCache
	}
	cacheSize := m.cacheSize
	m.ariWindow = m.ariSpread(total)
	m.mu.Unlock()
	if cacheSize > 0 && len(es) >= indexMin {
		if x, err := m.certs.Index(ctx); err == nil {
			if x.Rebuilt {
				m.cfg.Logger.InfoContext(ctx, "rebuilt the store's certificate index", "certificates", x.Len())
			}
			now := m.cfg.Clock.Now()
			toLoad = nil
			for _, e := range es {
				if !m.lazyFromIndex(e, x.Lookup(e.spec.Issuer.Client.DirectoryURL, e.spec.Name), now) {
					toLoad = append(toLoad, e)
				}
			}
			m.mu.Lock()
			if !m.indexed {
				m.indexMark, m.indexed = x.Mark(), true
			}
			m.mu.Unlock()
		} else if !errors.Is(err, store.ErrNoIndex) {
			m.cfg.Logger.WarnContext(ctx, "cannot read the store's certificate index; reading every certificate", "error", err)
		}
	}
	// Load in parallel: parsing keys and certificates is most of the
	// work, and reading files waits on the disk.
	workers := min(4*runtime.GOMAXPROCS(0), len(toLoad))
	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(toLoad) || ctx.Err() != nil {
					return
				}
				m.load(ctx, toLoad[i])
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}

	now := m.cfg.Clock.Now()
	m.mu.Lock()
	for _, e := range es {
		old := m.entries[e.spec.Name]
		if old != nil {
			// Keep the entry, so that an order under way lands in it.
			old.spec, old.ids, old.caDir, old.enc = e.spec, e.ids, e.caDir, e.enc
			if e.held != nil {
				e.held.covers = covers(e.held.leaf, e.ids)
			}
			if old.held == nil && old.lazy == nil || e.held != nil && old.held != nil && newer(e.held.leaf, old.held.leaf) {
				old.takeLoaded(e)
				if e.lazy == nil {
					m.drawLocked(old)
				}
			} else if old.held != nil {
				old.held.covers = covers(old.held.leaf, old.ids)
			}
			e = old
		} else {
			if e.lazy == nil {
				m.drawLocked(e)
			}
			m.entries[e.spec.Name] = e
		}
		if e.held != nil {
			m.cacheAddLocked(e)
		}
		if !e.initial && m.needsFirstPass(e, now) {
			e.initial = true
			m.pending++
			if m.pending == 1 {
				m.readyCh = make(chan struct{})
			}
		}
		if e.initial && e.backingOff(now) {
			// A previous run tried and is backing off: that was the
			// first attempt.
			m.firstPassDoneLocked(e, errors.New(e.state().LastError))
		}
		m.scheduleLocked(e, now, now)
		if e.held != nil {
			m.cfg.Metrics.ObserveExpiry(e.spec.Name, e.held.leaf.NotAfter)
		} else if e.lazy != nil {
			m.cfg.Metrics.ObserveExpiry(e.spec.Name, e.lazy.notAfter)
		}
	}
	m.rebuildLocked()
	var stale []*entry
	for _, e := range es {
		if e.takeStale() {
			if cur := m.entries[e.spec.Name]; cur == e {
				stale = append(stale, e)
			}
		}
	}
	m.mu.Unlock()
	// Complete a record half written by a process that stored a renewal
	// and died before its state: rare, so no write at start otherwise.
	for _, e := range stale {
		m.saveState(ctx, e)
	}
	m.poke()
	return nil
}

// newEntry checks c and makes its entry.
func newEntry(c Spec, caDirs map[string]string) (*entry, error) {
	if len(c.Identifiers) == 0 {
		return nil, fmt.Errorf("manager: certificate %q has no identifiers", c.Name)
	}
	if c.Name == "" {
		c.Name = c.Identifiers[0].Value
	}
	if c.Issuer == nil || c.Issuer.Client == nil || c.Issuer.Client.DirectoryURL == "" {
		return nil, fmt.Errorf("manager: certificate %q has no Issuer with a Client and a DirectoryURL", c.Name)
	}
	c.Identifiers = slices.Clone(c.Identifiers)
	e := &entry{spec: c, index: -1}
	for _, id := range c.Identifiers {
		e.ids = append(e.ids, strings.ToLower(id.Value))
	}
	var err error
	ca := c.Issuer.Client.DirectoryURL
	if e.caDir = caDirs[ca]; e.caDir == "" {
		if e.caDir, err = store.CADirName(ca); err != nil {
			return nil, fmt.Errorf("manager: certificate %q: %w", c.Name, err)
		}
		caDirs[ca] = e.caDir
	}
	if e.enc, err = store.EncodeName(c.Name); err != nil {
		return nil, fmt.Errorf("manager: certificate %q: %w", c.Name, err)
	}
	return e, nil
}

// load reads e's certificate and state from the store.
func (m *Manager) load(ctx context.Context, e *entry) {
	log := m.cfg.Logger.With("name", e.spec.Name)
	var h *held
	res, err := m.certs.LoadCertificate(ctx, e.spec.Issuer.Client.DirectoryURL, e.spec.Name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		log.WarnContext(ctx, "stored certificate unreadable; it will be obtained again", "error", err)
	case len(res.ChainPEM) == 0:
		// A placeholder in the shared layout: please issue.
	default:
		if h, err = parseHeld(res); err != nil {
			log.WarnContext(ctx, "stored certificate unreadable; it will be obtained again", "error", err)
			h = nil
			break
		}
		h.covers = covers(h.leaf, e.ids)
		if res.PointerErr != nil {
			// Read from the newest whole version; the next save makes
			// the pointer (and the files at the top) right. Said once,
			// when the certificate is first read.
			log.WarnContext(ctx, "the store's link to the current version of the certificate is broken; serving the newest whole version", "version", res.Version, "error", res.PointerErr)
		}
	}
	st, err := m.loadState(ctx, e)
	if err != nil {
		log.WarnContext(ctx, "stored renewal state unreadable; starting afresh", "error", err)
	}
	// A state about another certificate is rewritten by Manage (see
	// entry.loaded).
	e.loaded(h, st)
}

// Unmanage stops managing the named certificates and stops serving them.
// What the store holds is left alone; an order under way finishes.
func (m *Manager) Unmanage(names ...string) {
	m.mu.Lock()
	for _, n := range names {
		e := m.entries[n]
		if e == nil {
			continue
		}
		delete(m.entries, n)
		e.unmanaged()
		if e.index >= 0 {
			m.queue.remove(e)
		}
		m.firstPassDoneLocked(e, nil)
		delete(m.readyErrs, n)
		m.cfg.Metrics.Forget(n)
	}
	m.rebuildLocked()
	m.mu.Unlock()
	m.poke()
}
