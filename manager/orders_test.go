package manager_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/managertest"
	"github.com/certkeeper/certkeeper/store"
)

// TestOrderOfLostLockContinued: an instance loses the certificate's lock
// (its lease runs out) between the CA's answer to newOrder and the save
// of the order in the state, which the fence then refuses. The next
// holder continues that order, with its key, instead of placing another,
// and forgets it once done.
func TestOrderOfLostLockContinued(t *testing.T) {
	st := newFencedMemory()
	clock := managertest.NewFakeClock(t0)
	ca := &fakeCA{clock: clock, life: 90 * day}
	const name, orderURL = "a.example.com", "https://ca.test/order/1"
	certs := &store.Certs{Store: st}
	lock, err := certs.ObtainLock(testCA, name)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)

	var (
		mu       sync.Mutex
		firstKey []byte
		resumes  []string
	)
	keyPEM := func(req issue.Request) []byte {
		if req.Key == nil {
			return nil
		}
		b, err := keys.MarshalPEM(req.Key)
		if err != nil {
			t.Error(err)
		}
		return b
	}
	h1 := newHarness(t, st, clock, ca, nil)
	manager.SetObtain(h1.m, func(ctx context.Context, c manager.Spec, req issue.Request) (*issue.Issued, error) {
		mu.Lock()
		firstKey = keyPEM(req)
		resumes = append(resumes, req.Resume)
		mu.Unlock()
		st.loseLock(lock) // the lease runs out as the CA answers
		req.OnOrder(orderURL)
		<-ctx.Done()
		return nil, context.Cause(ctx)
	})
	if err := h1.m.Manage(ctx, testCert(name)); err != nil {
		t.Fatal(err)
	}
	if err := h1.m.Renew(ctx, name); err == nil {
		t.Fatal("the attempt that lost its lock succeeded")
	}
	if s, _ := manager.LoadStatus(ctx, certs, testCA); len(s) == 1 && s[0].PendingOrder != "" {
		t.Fatalf("the state took the order under a lost lock: %q", s[0].PendingOrder)
	}

	h2 := newHarness(t, st, clock, ca, nil)
	manager.SetObtain(h2.m, func(ctx context.Context, c manager.Spec, req issue.Request) (*issue.Issued, error) {
		mu.Lock()
		resumes = append(resumes, req.Resume)
		if !bytes.Equal(keyPEM(req), firstKey) {
			t.Error("the order is continued with another key than it was placed with")
		}
		mu.Unlock()
		return ca.obtain(ctx, c, req)
	})
	if err := h2.m.Manage(ctx, testCert(name)); err != nil {
		t.Fatal(err)
	}
	if err := h2.m.Renew(ctx, name); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(resumes) != 2 || resumes[0] != "" || resumes[1] != orderURL {
		t.Errorf("Resume of each attempt %q, want [\"\" %q]: the next holder places another order", resumes, orderURL)
	}
	mu.Unlock()
	if recs, err := certs.LoadOrders(ctx, testCA, name); err != nil || len(recs) != 0 {
		t.Errorf("order records after the order was done: %+v (%v), want none", recs, err)
	}
	if s, _ := h2.m.StatusOf(name); s.PendingOrder != "" {
		t.Errorf("pending order %q kept after a success", s.PendingOrder)
	}
}

// TestLockLostBeforeSaveReady: an instance obtains the certificate but
// loses the lock before storing it (the fenced save is refused and the
// certificate rescued). It serves the certificate, and its first pass is
// over: Ready returns, although the certificate another instance stores
// later is the same one, which the watch would not take as newer.
func TestLockLostBeforeSaveReady(t *testing.T) {
	st := newFencedMemory()
	clock := managertest.NewFakeClock(t0)
	ca := &fakeCA{clock: clock, life: 90 * day}
	const name = "b.example.com"
	certs := &store.Certs{Store: st}
	lock, err := certs.ObtainLock(testCA, name)
	if err != nil {
		t.Fatal(err)
	}
	rescue := t.TempDir()
	h := newHarness(t, st, clock, ca, func(c *manager.Config) { c.RescueDir = rescue })
	manager.SetObtain(h.m, func(ctx context.Context, c manager.Spec, req issue.Request) (*issue.Issued, error) {
		ic, err := ca.obtain(ctx, c, req)
		st.loseLock(lock) // the lease runs out as the certificate arrives
		return ic, err
	})
	ctx := ctxT(t)
	if err := h.m.Manage(ctx, testCert(name)); err != nil {
		t.Fatal(err)
	}
	h.run()
	if err := h.m.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if h.m.Lookup(name) == nil {
		t.Errorf("%s not served", name)
	}
	if _, err := certs.LoadCertificate(ctx, testCA, name); err == nil {
		t.Error("the certificate was stored under a lost lock")
	}
}

// TestStaleOrderRecord: an order record left behind (its holder lost the
// lock after the next one had looked, and that one ordered and stored a
// certificate) names an order that gives a certificate older than the
// one held. The attempt that resumes it does not take that certificate:
// it orders anew, and the record is dropped.
func TestStaleOrderRecord(t *testing.T) {
	st := newFencedMemory()
	clock := managertest.NewFakeClock(t0)
	ca := &fakeCA{clock: clock, life: 90 * day}
	const name, stale = "c.example.com", "https://ca.test/order/stale"
	certs := &store.Certs{Store: st}
	ctx := ctxT(t)
	var (
		mu      sync.Mutex
		resumes []string
	)
	h := newHarness(t, st, clock, ca, nil)
	manager.SetObtain(h.m, func(ctx context.Context, c manager.Spec, req issue.Request) (*issue.Issued, error) {
		mu.Lock()
		resumes = append(resumes, req.Resume)
		mu.Unlock()
		if req.Resume == stale {
			// Finished long ago, before the certificate held.
			return makeCert(req.Identifiers, 99, t0.Add(-day), t0.Add(89*day), req.Key)
		}
		return ca.obtain(ctx, c, req)
	})
	if err := h.m.Manage(ctx, testCert(name)); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Renew(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := certs.SaveOrder(ctx, testCA, name, store.OrderRecord{URL: stale, PlacedAt: t0.Add(-day)}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(day)
	if err := h.m.Renew(ctx, name); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(resumes) != 3 || resumes[0] != "" || resumes[1] != stale || resumes[2] != "" {
		t.Errorf("Resume of each order %q, want [\"\" %q \"\"]", resumes, stale)
	}
	mu.Unlock()
	if c := h.m.Lookup(name); c == nil || c.Leaf == nil || !c.Leaf.NotBefore.Equal(t0.Add(day)) {
		var nb time.Time
		if c != nil && c.Leaf != nil {
			nb = c.Leaf.NotBefore
		}
		t.Errorf("served a certificate not before %v; want the one ordered anew (not before %v)", nb, t0.Add(day))
	}
	if recs, _ := certs.LoadOrders(ctx, testCA, name); len(recs) != 0 {
		t.Errorf("stale record kept: %+v", recs)
	}
}
