package manager_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/managertest"
	"github.com/certkeeper/certkeeper/store"
)

const testCA = "https://ca.test/directory"

// fakeCA stands in for issue.Issuer.Obtain: it signs certificates valid
// from the fake clock's now for life.
type fakeCA struct {
	clock  *managertest.FakeClock
	life   time.Duration
	orders atomic.Int32

	mu       sync.Mutex
	fail     error                                              // returned by every order while set
	failIf   func(ctx context.Context, req issue.Request) error // decides each order's failure while set
	gate     chan struct{}                                      // orders wait on it while set
	replaces []string                                           // Replaces of every order
	ari      func(leaf *x509.Certificate) (acme.RenewalInfo, error)
	serial   int64
}

func (f *fakeCA) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func (f *fakeCA) obtain(ctx context.Context, c manager.Spec, req issue.Request) (*issue.Issued, error) {
	f.orders.Add(1)
	f.mu.Lock()
	gate, fail, failIf := f.gate, f.fail, f.failIf
	f.replaces = append(f.replaces, req.Replaces)
	f.serial++
	sn := f.serial
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	if failIf != nil {
		if err := failIf(ctx, req); err != nil {
			return nil, err
		}
	}
	now := f.clock.Now()
	return makeCert(req.Identifiers, sn, now, now.Add(f.life), req.Key)
}

func (f *fakeCA) setFailIf(fn func(ctx context.Context, req issue.Request) error) {
	f.mu.Lock()
	f.failIf = fn
	f.mu.Unlock()
}

// orderedReplaces returns the Replaces of every order so far.
func (f *fakeCA) orderedReplaces() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.replaces...)
}

// offerWindow makes the CA offer renewal information: a window from
// start to end after each certificate's NotBefore.
func (f *fakeCA) offerWindow(start, end time.Duration) {
	f.mu.Lock()
	f.ari = func(leaf *x509.Certificate) (acme.RenewalInfo, error) {
		var ri acme.RenewalInfo
		ri.SuggestedWindow.Start = leaf.NotBefore.Add(start)
		ri.SuggestedWindow.End = leaf.NotBefore.Add(end)
		ri.RetryAfter = f.clock.Now().Add(6 * time.Hour)
		return ri, nil
	}
	f.mu.Unlock()
}

// logBuffer collects what a slog.Logger writes, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (f *fakeCA) renewalInfo(_ context.Context, _ manager.Spec, leaf *x509.Certificate) (acme.RenewalInfo, error) {
	f.mu.Lock()
	ari := f.ari
	f.mu.Unlock()
	if ari == nil {
		return acme.RenewalInfo{}, manager.ErrNoARI
	}
	return ari(leaf)
}

// makeCert makes a self-signed certificate for ids.
func makeCert(ids []acme.Identifier, sn int64, nb, na time.Time, key any) (*issue.Issued, error) {
	k, _ := key.(*ecdsa.PrivateKey)
	if k == nil {
		var err error
		if k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, err
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(sn),
		Subject:      pkix.Name{CommonName: ids[0].Value},
		NotBefore:    nb, NotAfter: na,
		// ARI certificate IDs need the authority key identifier.
		AuthorityKeyId: []byte{1, 2, 3, 4, 5, 6, 7, 8},
	}
	for _, id := range ids {
		if ip := net.ParseIP(id.Value); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, id.Value)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	chain := acme.Chain{URL: "https://ca.test/cert/1", PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Certificates: []*x509.Certificate{leaf}}
	return &issue.Issued{Identifiers: ids, Key: k, Chain: chain, Chains: []acme.Chain{chain}, Leaf: leaf}, nil
}

// harness is a manager.Manager on a fake clock and a fake CA, recording events.
type harness struct {
	t      *testing.T
	m      *manager.Manager
	clock  *managertest.FakeClock
	ca     *fakeCA
	store  store.Store
	events chan manager.Event
	panics atomic.Int32
}

func newHarness(t *testing.T, st store.Store, clock *managertest.FakeClock, ca *fakeCA, tweak func(*manager.Config)) *harness {
	t.Helper()
	h := &harness{t: t, clock: clock, ca: ca, store: st, events: make(chan manager.Event, 1000)}
	cfg := manager.Config{
		Store:   st,
		Clock:   clock,
		Jitter:  -1,
		OnEvent: func(ev manager.Event) { h.events <- ev },
		OnPanic: func(context.Context, manager.Event) { h.panics.Add(1) },
		Rand:    func() float64 { return 0.5 },
	}
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := manager.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	manager.SetObtain(m, ca.obtain)
	manager.SetRenewalInfo(m, ca.renewalInfo)
	h.m = m
	return h
}

// dirStore returns a fake clock at t0 and a directory store in a new
// temporary directory, for tests of Managers that share a store on disk.
func dirStore(t *testing.T) (*managertest.FakeClock, *store.Dir) {
	t.Helper()
	ds, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return managertest.NewFakeClock(t0), ds
}

func newTestSetup(t *testing.T, tweak func(*manager.Config)) *harness {
	clock := managertest.NewFakeClock(t0)
	return newHarness(t, store.NewMemory(), clock, &fakeCA{clock: clock, life: 90 * day}, tweak)
}

func testCert(names ...string) manager.Spec {
	ids, err := issue.ParseIdentifiers(names...)
	if err != nil {
		panic(err)
	}
	return manager.Spec{Identifiers: ids, Issuer: &issue.Issuer{Client: &acme.Client{DirectoryURL: testCA}}}
}

// run starts Run until the test ends.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.m.Run(ctx); err != nil {
			h.t.Errorf("Run: %v", err)
		}
	}()
	h.t.Cleanup(func() { cancel(); <-done })
}

// next waits for the next event of type typ, skipping others.
func (h *harness) next(typ manager.EventType) manager.Event {
	h.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-h.events:
			if ev.Type == typ {
				return ev
			}
		case <-timeout:
			h.t.Fatalf("no %s event within 10s", typ)
		}
	}
}

// quiet checks that no event of type typ came by the time every
// goroutine of the test's synctest bubble is blocked.
func (h *harness) quiet(typ manager.EventType) {
	h.t.Helper()
	synctest.Wait()
	for {
		select {
		case ev := <-h.events:
			if ev.Type == typ {
				h.t.Fatalf("unexpected %s event: %+v", typ, ev)
			}
		default:
			return
		}
	}
}

// settle advances the clock by d once Run is asleep.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.waitIdle()
	h.clock.Advance(d)
}

// waitIdle waits until every goroutine of the test's synctest bubble is
// blocked (the test must run in one: see inBubble), and checks that no
// background check is under way and Run has armed its timer.
func (h *harness) waitIdle() {
	h.t.Helper()
	synctest.Wait()
	if !manager.Idle(h.m) || h.clock.Timers() == 0 {
		h.t.Fatalf("the manager did not settle: idle %v, %d timers", manager.Idle(h.m), h.clock.Timers())
	}
}

// inBubble runs f in a testing/synctest bubble, where waitIdle and quiet
// know when the manager has settled instead of guessing with sleeps.
func inBubble(f func(*testing.T)) func(*testing.T) {
	return func(t *testing.T) { synctest.Test(t, f) }
}

var errCA = errors.New("the CA says no")

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// noteInState sets fields of the renewal state stored for name at
// testCA, as another process's attempt writes them (an order noted in
// flight: pending_order, pending_key).
func noteInState(t *testing.T, certs *store.Certs, name string, fields map[string]any) {
	t.Helper()
	raw, err := certs.LoadState(ctxT(t), testCA, name)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	maps.Copy(st, fields)
	if raw, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := certs.SaveState(ctxT(t), testCA, name, raw); err != nil {
		t.Fatal(err)
	}
}
