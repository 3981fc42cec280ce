package manager

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
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
	obtain      func(ctx context.Context, c Spec, req issue.Request) (*issue.Issued, error)
	renewalInfo func(ctx context.Context, c Spec, leaf *x509.Certificate) (acme.RenewalInfo, error)

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
	// cacheSize is the cache's capacity in effect (Config.CacheSize, or
	// DefaultCacheSize once a zero one is exceeded); 0 for none.
	cacheSize int
	// autoCache is DefaultCacheSize (smaller in tests).
	autoCache int
	// ariFrom and ariWindow place the first fetches of renewal
	// information of certificates that never had one (Config.ARISpread).
	ariFrom   time.Time
	ariWindow time.Duration

	// The first pass, for Ready.
	pending   int // entries whose first attempt has not finished
	readyCh   chan struct{}
	readyErrs map[string]error
}

// entry is one managed certificate. Its fields are guarded by Manager.mu;
// its state (held, r, st, due, busyUntil, panicAt, ariFor, ariOK…)
// changes only through the transitions in entry.go.
type entry struct {
	spec  Spec     // Name filled in
	ids   []string // identifier values, lower-case
	caDir string   // store.CADirName of the CA
	enc   string   // store.EncodeName of the name

	held *held   // the certificate held, nil if none
	r    float64 // random draw for the lifetime rule, per held certificate
	// st is the persisted state; nil for a lazy entry without a failure
	// (its renewal-information times are in lazy: see compact), until
	// something needs it (state), so that a certificate no handshake and
	// no check has asked for costs no state.
	st *state

	due   time.Time // next renewal: NextRenewal in Status
	next  time.Time // next check: the queue's key
	index int       // in the queue, or -1
	call  *call     // the order under way, if any

	initial bool // first attempt pending, for Ready
	removed bool
	// ordering: the attempt under way holds the store's lock of the
	// certificate's orders (see saveStateErr).
	ordering bool

	// busyUntil: another instance sharing the store holds the lock for
	// this certificate; look again then (see cluster.go).
	busyUntil time.Time
	// panicAt is when EventPanic was last sent for this certificate.
	panicAt time.Time
	// staleState: load found a state about another certificate than the
	// one held; Manage saves it again.
	staleState bool
	// announce is the event (EventObtained or EventRenewed) that the
	// attempt which stored the certificate held did not send, killed
	// before its hooks ended (state.unannounced); "" if none. Such an
	// entry is due at once: its attempt sends it (announceLeft).
	announce EventType

	// lazy is the summary of the certificate held while it is not
	// parsed (held is nil then); see lazy.go. loading is closed when a
	// read of it under way ends; cached says it counts in the cache.
	lazy    *lazy
	loading chan struct{}
	cached  bool
	// slot is where Lookup finds the certificate served.
	slot *slot
	// ariFor is the serial of the certificate whose renewal information
	// was last fetched, and ariOK whether the CA gave it (see
	// offersARI). A serial, not the held certificate: that would keep
	// the parsed certificate alive after the cache evicted it, and a
	// certificate parsed again is the same one.
	ariFor string
	ariOK  bool
}

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
		cacheSize: max(cfg.CacheSize, 0),
		autoCache: DefaultCacheSize,
		ariFrom:   cfg.Clock.Now(),
	}
	m.obtain = func(ctx context.Context, c Spec, req issue.Request) (*issue.Issued, error) {
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

func caRenewalInfo(ctx context.Context, c Spec, leaf *x509.Certificate) (acme.RenewalInfo, error) {
	dir, err := c.Issuer.Client.Directory(ctx)
	if err != nil {
		return acme.RenewalInfo{}, err
	}
	if dir.RenewalInfo == "" {
		return acme.RenewalInfo{}, errNoARI
	}
	return c.Issuer.Client.RenewalInfo(ctx, leaf)
}

// poke wakes Run up to look at the queue again.
func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}
