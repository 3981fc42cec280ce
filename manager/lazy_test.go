package manager

import (
	"context"
	"crypto/x509"
	"errors"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/storetest"
)

// parsedCount counts the certificates m holds parsed.
func parsedCount(m *Manager) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.entries {
		if e.held != nil {
			n++
		}
	}
	return n
}

func TestCacheSizeLoadsOnDemand(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	const n, size = 100, 10
	if err := storetest.Generate(ctx, &store.Certs{Store: st}, 0, n); err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Store: st, CacheSize: size})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Manage(ctx, scaleCerts(n)...); err != nil {
		t.Fatal(err)
	}
	if got := parsedCount(m); got != 0 {
		t.Errorf("%d certificates parsed at start, want 0", got)
	}
	name := storetest.GeneratedName(42)
	if m.Lookup(name) != nil {
		t.Errorf("Lookup(%s) before Load found a certificate", name)
	}
	c, err := m.Load(ctx, name)
	if err != nil || c == nil || c.Leaf == nil || c.Leaf.VerifyHostname(name) != nil {
		t.Fatalf("Load(%s) = %v, %v", name, c, err)
	}
	if m.Lookup("HOST-42.example.com.") != c {
		t.Error("Lookup after Load does not serve the loaded certificate")
	}
	if c, err := m.Load(ctx, "nope.example.com"); c != nil || err != nil {
		t.Errorf("Load(unmanaged) = %v, %v", c, err)
	}
	for i := range n {
		if c, err := m.Load(ctx, storetest.GeneratedName(i)); err != nil || c == nil {
			t.Fatalf("Load(%d): %v", i, err)
		}
	}
	if got := parsedCount(m); got > size+1 {
		t.Errorf("%d certificates parsed after loading all, want at most %d", got, size)
	}
	// Nothing is due: the schedule came from the index.
	for _, s := range m.Status() {
		if !s.NextRenewal.After(time.Now()) || s.NotAfter.IsZero() || s.Serial == "" {
			t.Fatalf("%s: NextRenewal %v NotAfter %v Serial %q", s.Name, s.NextRenewal, s.NotAfter, s.Serial)
		}
	}
}

func TestIndexPickUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := store.NewMemory()
	const n = 70
	if err := storetest.Generate(ctx, &store.Certs{Store: st}, 0, n); err != nil {
		t.Fatal(err)
	}
	certs := scaleCerts(n + 1)
	// The last certificate is managed but missing: another process
	// stores it while Run runs.
	m, err := New(Config{Store: st, CacheSize: 10, IndexPoll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Manage(ctx, certs...); err != nil {
		t.Fatal(err)
	}
	// Another process stores it (Run is not running: it would order it).
	if err := storetest.Generate(ctx, &store.Certs{Store: st}, n, 1); err != nil {
		t.Fatal(err)
	}
	x, _, err := m.certs.IndexChanges(ctx, m.indexMark)
	if err != nil || len(x) != 1 || x[0].Name != storetest.GeneratedName(n) {
		t.Fatalf("IndexChanges = %v, %v; want the new certificate", x, err)
	}
	go m.followIndex(ctx, m.indexMark)
	name := storetest.GeneratedName(n)
	for deadline := time.Now().Add(10 * time.Second); m.Lookup(name) == nil; {
		if time.Now().After(deadline) {
			t.Fatal("the certificate another process stored was not picked up")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOffersARIKeepsLazyEntryStateless: asking whether the CA offers
// renewal information gives a lazy entry no state (lazy entries cost no
// state until something acts on them; see entry.st).
func TestOffersARIKeepsLazyEntryStateless(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	const n = 70
	if err := storetest.Generate(ctx, &store.Certs{Store: st}, 0, n); err != nil {
		t.Fatal(err)
	}
	m := testManager(t, Config{Store: st, CacheSize: 10})
	asked := 0
	m.renewalInfo = func(context.Context, Spec, *x509.Certificate) (acme.RenewalInfo, error) {
		asked++
		return acme.RenewalInfo{}, errNoARI
	}
	m.obtain = func(context.Context, Spec, issue.Request) (*issue.Issued, error) {
		t.Error("an order was placed")
		return nil, errors.New("no order in this test")
	}
	if err := m.Manage(ctx, scaleCerts(n)...); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	var e *entry
	for _, c := range m.entries {
		if c.lazy != nil && c.st == nil {
			e = c
			break
		}
	}
	m.mu.Unlock()
	if e == nil {
		t.Fatal("no lazy entry without state after Manage")
	}
	h := testHeld(9, entryT0, entryT0.Add(time.Hour))
	if m.offersARI(ctx, e.spec, h) || asked != 1 {
		t.Errorf("offersARI with a CA that offers none: asked %d", asked)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.st != nil {
		t.Errorf("offersARI gave a lazy entry a state: %+v", e.st)
	}
}

// A certificate the cache evicted is released, though its renewal
// information was fetched: what records that fetch (ariFor) must not
// keep the parsed certificate alive, or memory grows with every
// certificate checked rather than staying within CacheSize.
func TestEvictedCertificateIsReleased(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	const n, size = 100, 10
	if err := storetest.Generate(ctx, &store.Certs{Store: st}, 0, n); err != nil {
		t.Fatal(err)
	}
	m := testManager(t, Config{Store: st, CacheSize: size})
	m.renewalInfo = func(_ context.Context, _ Spec, leaf *x509.Certificate) (acme.RenewalInfo, error) {
		var ri acme.RenewalInfo
		ri.SuggestedWindow.Start = leaf.NotBefore.Add(50 * 24 * time.Hour)
		ri.SuggestedWindow.End = leaf.NotBefore.Add(51 * 24 * time.Hour)
		return ri, nil
	}
	if err := m.Manage(ctx, scaleCerts(n)...); err != nil {
		t.Fatal(err)
	}
	var parsed []weak.Pointer[held]
	for i := range n {
		name := storetest.GeneratedName(i)
		if _, err := m.Load(ctx, name); err != nil {
			t.Fatal(err)
		}
		m.mu.Lock()
		e := m.entries[name]
		h := e.held
		m.mu.Unlock()
		if h == nil {
			t.Fatalf("%s not parsed after Load", name)
		}
		parsed = append(parsed, weak.Make(h))
		m.refreshDue(ctx, e, time.Now())
	}
	runtime.GC()
	alive := 0
	for _, p := range parsed {
		if p.Value() != nil {
			alive++
		}
	}
	if alive > size+1 {
		t.Errorf("%d of %d parsed certificates still in memory after the cache evicted them, want at most %d", alive, n, size+1)
	}
}

// An entry the cache evicted keeps no state when its summary holds what
// scheduling needs (the CA's moment and when to ask again), so that a
// storm's renewed certificates cost what the index's do; it keeps its
// state while it has failures to back off from.
func TestEvictedEntryKeepsScheduleWithoutState(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	const n, size = 30, 5
	if err := storetest.Generate(ctx, &store.Certs{Store: st}, 0, n); err != nil {
		t.Fatal(err)
	}
	m := testManager(t, Config{Store: st, CacheSize: size})
	retry := time.Now().Add(5 * time.Hour).Truncate(time.Second)
	m.renewalInfo = func(_ context.Context, _ Spec, leaf *x509.Certificate) (acme.RenewalInfo, error) {
		var ri acme.RenewalInfo
		ri.SuggestedWindow.Start = leaf.NotBefore.Add(50 * 24 * time.Hour)
		ri.SuggestedWindow.End = leaf.NotBefore.Add(51 * 24 * time.Hour)
		ri.RetryAfter = retry
		return ri, nil
	}
	if err := m.Manage(ctx, scaleCerts(n)...); err != nil {
		t.Fatal(err)
	}
	failing := storetest.GeneratedName(0)
	type sched struct{ renewAt, recheck, due time.Time }
	want := map[string]sched{}
	for i := range n {
		name := storetest.GeneratedName(i)
		if _, err := m.Load(ctx, name); err != nil {
			t.Fatal(err)
		}
		m.mu.Lock()
		e := m.entries[name]
		m.mu.Unlock()
		m.refreshDue(ctx, e, time.Now())
		m.mu.Lock()
		if name == failing {
			e.state().Failures = 1
		}
		var zero state
		s := e.peekState(&zero)
		want[name] = sched{s.ARIRenewAt, s.ARIRetryAfter, e.due}
		m.mu.Unlock()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	evicted := 0
	for name, w := range want {
		e := m.entries[name]
		if e.held != nil {
			continue
		}
		evicted++
		if name == failing {
			if e.st == nil || e.st.Failures != 1 {
				t.Errorf("%s: evicted with a failure, state %+v: want it kept", name, e.st)
			}
			continue
		}
		if e.st != nil {
			t.Errorf("%s: evicted, and still a state", name)
		}
		var zero state
		s := e.peekState(&zero)
		if !s.ARIRenewAt.Equal(w.renewAt) || !s.ARIRetryAfter.Equal(w.recheck) || w.recheck.IsZero() || !e.due.Equal(w.due) {
			t.Errorf("%s: evicted: renew at %v, recheck %v, due %v; want %v, %v, %v", name, s.ARIRenewAt, s.ARIRetryAfter, e.due, w.renewAt, w.recheck, w.due)
		}
		if got := e.state(); !got.ARIRetryAfter.Equal(w.recheck) || got.Serial == "" {
			t.Errorf("%s: the state made again lacks the summary's: %+v", name, got)
		}
	}
	if evicted < n-size-1 {
		t.Errorf("%d of %d evicted, want at least %d", evicted, n, n-size-1)
	}
}

// A certificate revoked by another process (certkeeper revoke beside the
// daemon) is due at once: the index's revocation line makes the manager
// read it again, whether it held it parsed or only its summary.
func TestIndexRevocationMakesDue(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := store.NewMemory()
	certs := &store.Certs{Store: st}
	const n = 3
	if err := storetest.Generate(ctx, certs, 0, n); err != nil {
		t.Fatal(err)
	}
	m := testManager(t, Config{Store: st, CacheSize: 10, IndexPoll: 10 * time.Millisecond})
	m.renewalInfo = func(context.Context, Spec, *x509.Certificate) (acme.RenewalInfo, error) {
		return acme.RenewalInfo{}, errNoARI // no CA here: the lifetime rule
	}
	if err := m.Manage(ctx, scaleCerts(n)...); err != nil {
		t.Fatal(err)
	}
	lazyName, heldName := storetest.GeneratedName(0), storetest.GeneratedName(1)
	if _, err := m.Load(ctx, heldName); err != nil { // parsed, as after a handshake
		t.Fatal(err)
	}
	go m.followIndex(ctx, m.indexMark)
	for _, name := range []string{lazyName, heldName} {
		rec, err := certs.LoadCertificate(ctx, storetest.GeneratedCA, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := certs.MarkRevoked(ctx, storetest.GeneratedCA, name, rec.Certificates[0].SerialNumber.Text(16), time.Now(), 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{lazyName, heldName} {
		for deadline := time.Now().Add(10 * time.Second); ; {
			due, err := m.DueAt(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if !due.After(time.Now()) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s, revoked by another process: due %v, not now", name, due)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if due, _ := m.DueAt(ctx, storetest.GeneratedName(2)); !due.After(time.Now()) {
		t.Errorf("a certificate not revoked is due: %v", due)
	}
}
