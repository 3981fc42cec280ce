package manager

import (
	"cmp"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// Manager keeps certificates valid. Make one with New; its methods are safe
// for concurrent use.
type Manager struct {
	cfg Config
	// ownRand: Config.Rand was nil, so renewal draws come from the
	// certificates (RenewalDraw).
	ownRand bool
	pol     policy
	certs   store.Certs

	// Seams for tests: the order, and the CA's renewal information
	// (errNoARI when the CA offers none).
	obtain      func(ctx context.Context, c Certificate, req issue.Request) (*issue.Certificate, error)
	renewalInfo func(ctx context.Context, c Certificate, leaf *x509.Certificate) (acme.RenewalInfo, error)

	snap atomic.Pointer[snapshot]

	// closing is cancelled by Close, which then waits for orders, the
	// count of orders under way.
	closing     context.Context
	closeOrders context.CancelFunc
	orders      sync.WaitGroup

	mu      sync.Mutex
	entries map[string]*entry
	queue   entryHeap
	wake    chan struct{} // capacity 1: the queue changed
	running bool
	busy    int // background checks under way

	// cache holds the parsed certificates when Config.CacheSize > 0;
	// hand is the eviction hand in it (see lazy.go).
	cache []*entry
	hand  int
	// indexMark is where Manage read the store's index up to, for Run
	// to follow it; indexed says Manage read one.
	indexMark store.IndexMark
	indexed   bool

	// The first pass, for Ready.
	pending   int // entries whose first attempt has not finished
	readyCh   chan struct{}
	readyErrs map[string]error
}

// entry is one managed certificate. Its fields are guarded by Manager.mu.
type entry struct {
	cert  Certificate // Name filled in
	ids   []string    // identifier values, lower-case
	caDir string      // store.CADirName of the CA
	enc   string      // store.EncodeName of the name

	held *held   // the certificate held, nil if none
	r    float64 // random draw for the lifetime rule, per held certificate
	st   state   // persisted state

	due   time.Time // next renewal: NextRenewal in Status
	next  time.Time // next check: the queue's key
	index int       // in the queue, or -1
	call  *call     // the order under way, if any

	initial bool // first attempt pending, for Ready
	removed bool

	// busyUntil: another instance sharing the store holds the lock for
	// this certificate; look again then (see cluster.go).
	busyUntil time.Time
	// panicAt is when EventPanic was last sent for this certificate.
	panicAt time.Time
	// staleState: load found a state about another certificate than the
	// one held; Manage saves it again.
	staleState bool

	// lazy is the summary of the certificate held while it is not
	// parsed (held is nil then); see lazy.go. loading is closed when a
	// read of it under way ends; cached says it counts in the cache.
	lazy    *lazy
	loading chan struct{}
	cached  bool
	// slot is where Lookup finds the certificate served.
	slot *slot
}

// held is a certificate in memory.
type held struct {
	tls    *tls.Certificate // nil when the store has no key for it
	leaf   *x509.Certificate
	key    crypto.Signer
	covers bool // the leaf is valid for every identifier managed
	// revoked is the store's record of the leaf's revocation, if any:
	// such a certificate is due at once, and after a key compromise its
	// key is never used again.
	revoked *store.Revocation
}

// compromised reports whether h's key must not be used again (revoked
// for keyCompromise, RFC 5280 §5.3.1 reason 1).
func (h *held) compromised() bool { return h != nil && h.revoked != nil && h.revoked.Reason == 1 }

// call is an order under way that several callers wait for.
type call struct {
	done chan struct{}
	err  error
}

// New returns a Manager for cfg. It starts nothing: call Manage, then Run.
func New(cfg Config) (*Manager, error) {
	ownRand := cfg.Rand == nil
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:     cfg,
		ownRand: ownRand,
		pol: policy{
			fraction: cfg.RenewFraction, reissueBefore: cfg.ReissueBefore,
			panicBefore: cfg.PanicBefore, jitter: cfg.Jitter, backoff: cfg.Backoff,
		},
		certs:     store.Certs{Store: cfg.Store, Layout: cfg.Layout},
		entries:   map[string]*entry{},
		wake:      make(chan struct{}, 1),
		readyErrs: map[string]error{},
	}
	m.obtain = func(ctx context.Context, c Certificate, req issue.Request) (*issue.Certificate, error) {
		return c.Issuer.Obtain(ctx, req)
	}
	m.renewalInfo = caRenewalInfo
	m.snap.Store(&snapshot{})
	m.closing, m.closeOrders = context.WithCancel(context.Background())
	return m, nil
}

// Close cancels the orders under way, from Renew, RenewIfDue, Run or a
// handshake, and waits until they have wound down (their challenges
// cleaned up, the store's locks released, their state saved) or ctx is
// done. A program that stops, say on Ctrl-C, calls it so that nothing is
// left half done. Orders asked for after Close fail at once.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock() // join checks closing under it: no order starts after
	m.closeOrders()
	m.mu.Unlock()
	done := make(chan struct{})
	go func() {
		m.orders.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errNoARI says that the CA offers no renewal information.
var errNoARI = errors.New("manager: the CA offers no renewal information")

func caRenewalInfo(ctx context.Context, c Certificate, leaf *x509.Certificate) (acme.RenewalInfo, error) {
	dir, err := c.Issuer.Client.Directory(ctx)
	if err != nil {
		return acme.RenewalInfo{}, err
	}
	if dir.RenewalInfo == "" {
		return acme.RenewalInfo{}, errNoARI
	}
	return c.Issuer.Client.RenewalInfo(ctx, leaf)
}

// Manage adds certificates, or replaces the configuration of those of the
// same names, and loads what the store holds for them into memory at once,
// without any network call, so that Lookup serves them when Manage
// returns. A certificate the store does not hold, or holds for other
// identifiers, is obtained by Run. Manage fails, adding none of them, if a
// Certificate is invalid; a stored certificate that cannot be read is
// logged and treated as missing.
func (m *Manager) Manage(ctx context.Context, certs ...Certificate) error {
	es := make([]*entry, len(certs))
	seen := map[string]bool{}
	for i, c := range certs {
		e, err := newEntry(c)
		if err != nil {
			return err
		}
		if seen[e.cert.Name] {
			return fmt.Errorf("manager: certificate %q given twice", e.cert.Name)
		}
		seen[e.cert.Name] = true
		es[i] = e
	}
	// With a cache, the certificates the index says are fine are not
	// read (see lazy.go); a few are read at once all the same.
	toLoad := es
	if m.cfg.CacheSize > 0 && len(es) >= indexMin {
		if x, err := m.certs.Index(ctx); err == nil {
			if x.Rebuilt {
				m.cfg.Logger.InfoContext(ctx, "rebuilt the store's certificate index", "certificates", x.Len())
			}
			now := m.cfg.Clock.Now()
			toLoad = nil
			for _, e := range es {
				if !m.lazyFromIndex(e, x.Lookup(e.cert.Issuer.Client.DirectoryURL, e.cert.Name), now) {
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
		old := m.entries[e.cert.Name]
		if old != nil {
			// Keep the entry, so that an order under way lands in it.
			old.cert, old.ids, old.caDir, old.enc = e.cert, e.ids, e.caDir, e.enc
			if e.held != nil {
				e.held.covers = covers(e.held.leaf, e.ids)
			}
			if old.held == nil && old.lazy == nil || e.held != nil && old.held != nil && newer(e.held.leaf, old.held.leaf) {
				old.held, old.st, old.lazy, old.r = e.held, e.st, e.lazy, e.r
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
			m.entries[e.cert.Name] = e
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
		if e.initial && e.st.Failures > 0 && e.st.NextAttempt.After(now) {
			// A previous run tried and is backing off: that was the
			// first attempt.
			m.firstPassDoneLocked(e, errors.New(e.st.LastError))
		}
		m.scheduleLocked(e, now, now)
		if e.held != nil {
			m.cfg.Metrics.ObserveExpiry(e.cert.Name, e.held.leaf.NotAfter)
		} else if e.lazy != nil {
			m.cfg.Metrics.ObserveExpiry(e.cert.Name, e.lazy.notAfter)
		}
	}
	m.rebuildLocked()
	var stale []*entry
	for _, e := range es {
		if e.staleState {
			e.staleState = false
			if cur := m.entries[e.cert.Name]; cur == e {
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

// drawLocked gives e the draw of its renewal moment: the one its state
// keeps for the certificate held; else, unless Config.Rand was given,
// RenewalDraw of the certificate, which every process computes alike, so
// that all of them (and list) renew it at the same moment without having
// written anything; else a draw of Config.Rand.
func (m *Manager) drawLocked(e *entry) {
	if d := e.st.RenewDraw; d > 0 && d < 1 {
		e.r = d
		return
	}
	if m.ownRand && e.held != nil {
		e.r = RenewalDraw(e.held.leaf)
	} else {
		e.r = m.cfg.Rand()
	}
	e.st.RenewDraw = e.r
}

// RenewalDraw returns the number in (0, 1) that places the renewal of
// leaf by the lifetime rule within the jitter (Config.Jitter), when
// Config.Rand is nil: derived from its serial number and issuer, so that
// every process computes the same moment for it.
func RenewalDraw(leaf *x509.Certificate) float64 {
	h := sha256.New()
	h.Write(leaf.RawIssuer)
	if leaf.SerialNumber != nil {
		h.Write(leaf.SerialNumber.Bytes())
	}
	sum := h.Sum(nil)
	v := binary.BigEndian.Uint64(sum[:8]) >> 11 // 53 bits
	return (float64(v) + 0.5) / (1 << 53)
}

// newEntry checks c and makes its entry.
func newEntry(c Certificate) (*entry, error) {
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
	e := &entry{cert: c, index: -1}
	for _, id := range c.Identifiers {
		e.ids = append(e.ids, strings.ToLower(id.Value))
	}
	var err error
	if e.caDir, err = store.CADirName(c.Issuer.Client.DirectoryURL); err != nil {
		return nil, fmt.Errorf("manager: certificate %q: %w", c.Name, err)
	}
	if e.enc, err = store.EncodeName(c.Name); err != nil {
		return nil, fmt.Errorf("manager: certificate %q: %w", c.Name, err)
	}
	return e, nil
}

// load reads e's certificate and state from the store.
func (m *Manager) load(ctx context.Context, e *entry) {
	log := m.cfg.Logger.With("name", e.cert.Name)
	res, err := m.certs.LoadCertificate(ctx, e.cert.Issuer.Client.DirectoryURL, e.cert.Name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		log.WarnContext(ctx, "stored certificate unreadable; it will be obtained again", "error", err)
	case len(res.ChainPEM) == 0:
		// A placeholder in the shared layout: please issue.
	default:
		h, err := parseHeld(res)
		if err != nil {
			log.WarnContext(ctx, "stored certificate unreadable; it will be obtained again", "error", err)
			break
		}
		h.covers = covers(h.leaf, e.ids)
		e.held = h
	}
	st, err := m.loadState(ctx, e)
	if err != nil {
		log.WarnContext(ctx, "stored renewal state unreadable; starting afresh", "error", err)
	}
	if e.held == nil || st.Serial != serial(e.held.leaf) {
		// A state about another certificate: the one replaced, when a
		// process stored a renewal and died (or failed) before it wrote
		// the state. Manage writes it again for the certificate held.
		e.staleState = e.held != nil && st.Serial != ""
		st = st.forNewCertificate()
		if e.held != nil {
			st.Serial = serial(e.held.leaf)
		}
	}
	e.st = st
}

// parseHeld turns a stored certificate into one that can be served. The
// store has parsed and matched key and chain already (store.Resource's
// Key and Certificates); they are parsed here only when it did not.
func parseHeld(res store.Resource) (*held, error) {
	h, err := parseHeldPair(res)
	if err != nil {
		return nil, err
	}
	if r := res.Revoked; r != nil && strings.EqualFold(strings.TrimLeft(r.Serial, "0"), serial(h.leaf)) {
		h.revoked = r
	}
	return h, nil
}

func parseHeldPair(res store.Resource) (*held, error) {
	certs := res.Certificates
	if len(certs) == 0 {
		var err error
		if certs, err = keys.ParseCertificates(res.ChainPEM); err != nil {
			return nil, err
		}
	}
	if len(res.KeyPEM) == 0 {
		return &held{leaf: certs[0]}, nil
	}
	key := res.Key
	if key == nil {
		var err error
		if key, err = keys.ParsePEM(res.KeyPEM); err != nil {
			return nil, err
		}
		pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(certs[0].PublicKey) {
			return nil, store.ErrKeyMismatch
		}
	}
	c := &tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, cert := range certs {
		c.Certificate = append(c.Certificate, cert.Raw)
	}
	return &held{tls: c, leaf: certs[0], key: key}, nil
}

// covers reports whether leaf is valid for every identifier in ids.
func covers(leaf *x509.Certificate, ids []string) bool {
	for _, id := range ids {
		if ip := net.ParseIP(id); ip != nil {
			if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
				return false
			}
			continue
		}
		if !slices.ContainsFunc(leaf.DNSNames, func(n string) bool { return strings.EqualFold(n, id) }) {
			return false
		}
	}
	return true
}

// newer reports whether a was issued after b.
func newer(a, b *x509.Certificate) bool {
	if b == nil {
		return true
	}
	return a.NotBefore.After(b.NotBefore) || a.NotBefore.Equal(b.NotBefore) && a.NotAfter.After(b.NotAfter)
}

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
		m.readyErrs[e.cert.Name] = fmt.Errorf("%s: %w", e.cert.Name, err)
	} else {
		delete(m.readyErrs, e.cert.Name)
	}
	m.pending--
	if m.pending == 0 {
		close(m.readyCh)
	}
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
		e.removed = true
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

// Status describes every managed certificate, sorted by name.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.entries))
	for _, e := range m.entries {
		out = append(out, m.statusLocked(e))
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func (m *Manager) statusLocked(e *entry) Status {
	s := Status{
		Name:           e.cert.Name,
		Identifiers:    slices.Clone(e.ids),
		NextRenewal:    e.due,
		LastSuccess:    e.st.LastSuccess,
		LastError:      e.st.LastError,
		Failures:       e.st.Failures,
		ARIWindowStart: e.st.ARIWindowStart,
		ARIWindowEnd:   e.st.ARIWindowEnd,
		PendingOrder:   e.st.PendingOrder,
	}
	if z := e.lazy; z != nil {
		s.NotBefore, s.NotAfter, s.Serial = z.notBefore, z.notAfter, z.serial
		s.CertIdentifiers = slices.Clone(e.ids) // the index said it covers them
	}
	if e.held != nil {
		l := e.held.leaf
		s.NotBefore, s.NotAfter = l.NotBefore, l.NotAfter
		s.Serial = serial(l)
		s.CertIdentifiers = slices.Clone(l.DNSNames)
		for _, ip := range l.IPAddresses {
			s.CertIdentifiers = append(s.CertIdentifiers, ip.String())
		}
	}
	return s
}

// StatusOf describes the named certificate; false if it is not managed.
func (m *Manager) StatusOf(name string) (Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[name]
	if e == nil {
		return Status{}, false
	}
	return m.statusLocked(e), true
}

// poke wakes Run up to look at the queue again.
func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}
