package manager_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
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

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestReadyWithoutCertificates(t *testing.T) {
	h := newTestSetup(t, nil)
	if err := h.m.Ready(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestObtainsMissing(t *testing.T) {
	h := newTestSetup(t, nil)
	ctx := ctxT(t)
	if err := h.m.Manage(ctx, testCert("a.example.com", "*.example.com")); err != nil {
		t.Fatal(err)
	}
	if c := h.m.Lookup("a.example.com"); c != nil {
		t.Fatal("a certificate is served before any was obtained")
	}
	// Ready waits for the first attempt, which Run makes.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := h.m.Ready(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ready before Run = %v, want it to wait", err)
	}
	h.run()
	if err := h.m.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if ev := h.next(manager.EventObtaining); ev.Attempt != 1 {
		t.Errorf("obtaining: attempt %d", ev.Attempt)
	}
	ev := h.next(manager.EventObtained)
	if !ev.NotAfter.Equal(t0.Add(90 * day)) {
		t.Errorf("obtained: NotAfter %v", ev.NotAfter)
	}
	for _, n := range []string{"a.example.com", "A.Example.COM.", "b.example.com", "example.com.", "x.EXAMPLE.com"} {
		if h.m.Lookup(n) == nil && n != "example.com." {
			t.Errorf("Lookup(%q) = nil", n)
		}
	}
	if h.m.Lookup("example.com") != nil || h.m.Lookup("a.b.example.com") != nil {
		t.Error("the wildcard serves names it does not cover")
	}
	if h.ca.orders.Load() != 1 {
		t.Errorf("%d orders, want 1", h.ca.orders.Load())
	}
	st := h.m.Status()
	if len(st) != 1 || st[0].Failures != 0 || !st[0].LastSuccess.Equal(t0) || !st[0].NextRenewal.Equal(t0.Add(60*day)) {
		t.Errorf("Status = %+v", st)
	}
	// The store has it.
	certs := store.Certs{Store: h.store}
	if _, err := certs.LoadCertificate(ctx, testCA, "a.example.com"); err != nil {
		t.Error(err)
	}
}

func TestRenewsOnSchedule(t *testing.T) {
	for _, tc := range []struct {
		name      string
		life      time.Duration
		notYet    time.Duration // no renewal up to here
		renewedBy time.Duration
	}{
		{"90 days", 90 * day, 59 * day, 61 * day},
		{"6 days", 6 * day, 2*day + 23*time.Hour, 3*day + time.Hour},
	} {
		t.Run(tc.name, inBubble(func(t *testing.T) {
			h := newTestSetup(t, nil)
			h.ca.life = tc.life
			if err := h.m.Manage(ctxT(t), testCert("a.example.com")); err != nil {
				t.Fatal(err)
			}
			h.run()
			h.next(manager.EventObtained)
			first := h.m.Lookup("a.example.com")
			for elapsed := time.Duration(0); elapsed < tc.notYet; elapsed += 6 * time.Hour {
				h.advance(min(6*time.Hour, tc.notYet-elapsed))
			}
			h.waitIdle()
			h.quiet(manager.EventRenewing)
			h.advance(tc.renewedBy - tc.notYet)
			h.next(manager.EventRenewed)
			if h.m.Lookup("a.example.com") == first {
				t.Error("Lookup serves the old certificate after the renewal")
			}
			if h.ca.orders.Load() != 2 {
				t.Errorf("%d orders, want 2", h.ca.orders.Load())
			}
		}))
	}
}

func TestFailureBackoffAndAlarms(t *testing.T) { synctest.Test(t, testFailureBackoffAndAlarms) }

func testFailureBackoffAndAlarms(t *testing.T) {
	h := newTestSetup(t, func(c *manager.Config) {
		c.Backoff = []time.Duration{time.Hour}
	})
	ctx := ctxT(t)
	if err := h.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.next(manager.EventObtained)

	h.ca.setFail(errCA)
	// At 61 days the renewal is due and fails: less than twice the panic
	// interval (2×15 days) is left, so the certificate is expiring soon.
	h.advance(61 * day)
	ev := h.next(manager.EventFailed)
	if ev.Attempt != 1 || !errors.Is(ev.Err, errCA) || !ev.NextAttempt.Equal(t0.Add(61*day+time.Hour)) {
		t.Errorf("failed event: %+v", ev)
	}
	h.next(manager.EventExpiringSoon)
	if h.panics.Load() != 0 {
		t.Error("panic outside the panic interval")
	}
	// Not before the backoff.
	h.advance(59 * time.Minute)
	h.waitIdle()
	h.quiet(manager.EventRenewing)
	h.advance(time.Minute)
	if ev := h.next(manager.EventFailed); ev.Attempt != 2 {
		t.Errorf("second failure: attempt %d", ev.Attempt)
	}
	h.quiet(manager.EventExpiringSoon) // once per certificate
	st := h.m.Status()[0]
	if st.Failures != 2 || !strings.Contains(st.LastError, "the CA says no") {
		t.Errorf("Status = %+v", st)
	}
	// Inside the panic interval, every failure panics.
	h.advance(15 * day)
	h.next(manager.EventPanic)
	// OnPanic is called after OnEvent, which sent the event.
	synctest.Wait()
	if h.panics.Load() == 0 {
		t.Error("OnPanic not called")
	}
	// A success resets the count.
	h.ca.setFail(nil)
	h.advance(time.Hour)
	h.next(manager.EventRenewed)
	if st := h.m.Status()[0]; st.Failures != 0 || st.LastError != "" {
		t.Errorf("Status after success = %+v", st)
	}
}

func TestRetryAfterRespected(t *testing.T) { synctest.Test(t, testRetryAfterRespected) }

func testRetryAfterRespected(t *testing.T) {
	h := newTestSetup(t, nil)
	h.ca.setFail(&acme.Problem{Type: acme.ProblemRateLimited, Status: 429, RetryAfter: t0.Add(3 * time.Hour)})
	if err := h.m.Manage(ctxT(t), testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	h.run()
	ev := h.next(manager.EventFailed)
	if !ev.NextAttempt.Equal(t0.Add(3 * time.Hour)) {
		t.Errorf("NextAttempt = %v, want the Retry-After, 3h later", ev.NextAttempt.Sub(t0))
	}
	// A missing certificate that fails to be obtained is a panic.
	h.next(manager.EventPanic)
	h.advance(3*time.Hour - time.Second)
	h.waitIdle()
	if n := h.ca.orders.Load(); n != 1 {
		t.Fatalf("%d orders before the Retry-After", n)
	}
	h.advance(time.Second)
	h.next(manager.EventFailed)
}

func TestRestartMidBackoff(t *testing.T) { synctest.Test(t, testRestartMidBackoff) }

func testRestartMidBackoff(t *testing.T) {
	clock := managertest.NewFakeClock(t0)
	st := store.NewMemory()
	ca := &fakeCA{clock: clock, life: 90 * day, fail: errCA}
	tweak := func(c *manager.Config) { c.Backoff = []time.Duration{2 * time.Hour} }
	h1 := newHarness(t, st, clock, ca, tweak)
	if err := h1.m.Manage(ctxT(t), testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	ctx1, stop1 := context.WithCancel(ctxT(t))
	done := make(chan struct{})
	go func() { h1.m.Run(ctx1); close(done) }()
	h1.next(manager.EventFailed)
	stop1()
	<-done

	// The persisted state tells the CLI.
	sts, err := manager.LoadStatus(ctxT(t), &store.Certs{Store: st}, testCA)
	if err != nil || len(sts) != 1 || sts[0].Failures != 1 || !sts[0].NextRenewal.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("LoadStatus = %+v, %v", sts, err)
	}
	if all, err := manager.LoadStatus(ctxT(t), &store.Certs{Store: st}, ""); err != nil || len(all) != 1 || all[0].CA != testCA || all[0].Failures != 1 {
		t.Fatalf("LoadStatus(every CA) = %+v, %v", all, err)
	}

	// A new Manager on the same store waits for the persisted next attempt.
	clock.Advance(time.Hour)
	h2 := newHarness(t, st, clock, ca, tweak)
	if err := h2.m.Manage(ctxT(t), testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	// The previous attempt counts for Ready.
	if err := h2.m.Ready(ctxT(t)); err == nil || !strings.Contains(err.Error(), "the CA says no") {
		t.Errorf("Ready = %v, want the persisted error", err)
	}
	h2.run()
	h2.advance(59 * time.Minute)
	h2.waitIdle()
	if n := ca.orders.Load(); n != 1 {
		t.Fatalf("%d orders: the new Manager did not respect the persisted backoff", n)
	}
	ca.setFail(nil)
	h2.advance(time.Minute)
	h2.next(manager.EventObtained)
}

func TestRenewDeduplicates(t *testing.T) { synctest.Test(t, testRenewDeduplicates) }

func testRenewDeduplicates(t *testing.T) {
	h := newTestSetup(t, nil)
	ctx := ctxT(t)
	if err := h.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	h.ca.mu.Lock()
	h.ca.gate = gate
	h.ca.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() { errs <- h.m.Renew(ctx, "a.example.com") })
	}
	h.next(manager.EventObtaining)
	synctest.Wait() // every caller waits: on the order under way, or to start one
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := h.ca.orders.Load(); n != 1 {
		t.Fatalf("%d orders for 100 concurrent Renew calls, want 1", n)
	}
	if err := h.m.Renew(ctx, "nope.example.com"); !errors.Is(err, manager.ErrNotManaged) {
		t.Errorf("Renew of an unknown name: %v", err)
	}
}

func TestRenewTakesWhatAnotherProcessStored(t *testing.T) {
	clock := managertest.NewFakeClock(t0)
	st := store.NewMemory()
	ca := &fakeCA{clock: clock, life: 90 * day}
	a := newHarness(t, st, clock, ca, nil)
	b := newHarness(t, st, clock, ca, nil)
	ctx := ctxT(t)
	for _, h := range []*harness{a, b} {
		if err := h.m.Manage(ctx, testCert("a.example.com")); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.m.Renew(ctx, "a.example.com"); err != nil {
		t.Fatal(err)
	}
	// b started before a stored it; it takes a's certificate under the lock.
	if err := b.m.Renew(ctx, "a.example.com"); err != nil {
		t.Fatal(err)
	}
	if n := ca.orders.Load(); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}
	if a.m.Lookup("a.example.com").Leaf.SerialNumber.Cmp(b.m.Lookup("a.example.com").Leaf.SerialNumber) != 0 {
		t.Error("the two processes serve different certificates")
	}
}

func TestLoadsStoredCertificates(t *testing.T) {
	clock := managertest.NewFakeClock(t0)
	st := store.NewMemory()
	ca := &fakeCA{clock: clock, life: 90 * day}
	h1 := newHarness(t, st, clock, ca, nil)
	ctx := ctxT(t)
	if err := h1.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	if err := h1.m.Renew(ctx, "a.example.com"); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, st, clock, ca, nil)
	if err := h2.m.Manage(ctx, testCert("a.example.com"), testCert("b.example.com")); err != nil {
		t.Fatal(err)
	}
	if h2.m.Lookup("a.example.com") == nil {
		t.Fatal("a stored certificate is not served after Manage")
	}
	// Only b is missing; Ready waits for it alone.
	h2.run()
	if err := h2.m.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if n := ca.orders.Load(); n != 2 {
		t.Errorf("%d orders, want 2 (a once, b once)", n)
	}
	// Changing the identifiers makes the stored certificate unfit.
	if err := h2.m.Manage(ctx, testCert("a.example.com", "c.example.com")); err != nil {
		t.Fatal(err)
	}
	for h2.next(manager.EventObtained).Name != "a.example.com" {
	}
	if h2.m.Lookup("c.example.com") == nil {
		t.Error("c.example.com not served after the certificate was re-obtained")
	}
	h2.m.Unmanage("a.example.com")
	if h2.m.Lookup("a.example.com") != nil {
		t.Error("an unmanaged certificate is still served")
	}
	if len(h2.m.Status()) != 1 {
		t.Errorf("Status after Unmanage: %+v", h2.m.Status())
	}
}

func TestARI(t *testing.T) { synctest.Test(t, testARI) }

func testARI(t *testing.T) {
	h := newTestSetup(t, nil) // Rand = 0.5
	var mu sync.Mutex
	fetches := 0
	h.ca.ari = func(leaf *x509.Certificate) (acme.RenewalInfo, error) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		var ri acme.RenewalInfo
		ri.SuggestedWindow.Start = leaf.NotBefore.Add(40 * day)
		ri.SuggestedWindow.End = leaf.NotBefore.Add(42 * day)
		ri.RetryAfter = h.clock.Now().Add(6 * time.Hour)
		return ri, nil
	}
	ctx := ctxT(t)
	if err := h.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.next(manager.EventObtained)
	h.waitIdle()
	st := h.m.Status()[0]
	if !st.ARIWindowStart.Equal(t0.Add(40*day)) || !st.NextRenewal.Equal(t0.Add(41*day)) {
		t.Fatalf("Status = %+v, want the window and the middle of it (Rand 0.5)", st)
	}
	for range 4 * 40 {
		h.advance(6 * time.Hour)
	}
	h.waitIdle()
	h.quiet(manager.EventRenewing)
	h.advance(day)
	h.next(manager.EventRenewed)
	h.ca.mu.Lock()
	replaces := h.ca.replaces
	h.ca.mu.Unlock()
	if len(replaces) != 2 || replaces[0] != "" || replaces[1] == "" {
		t.Errorf("Replaces of the orders: %q", replaces)
	}
	mu.Lock()
	if fetches < 100 || fetches > 200 {
		t.Errorf("%d fetches of renewal information in 41 days with a Retry-After of 6h", fetches)
	}
	mu.Unlock()
}

func TestARIWindowInThePastRenewsAtOnce(t *testing.T) {
	synctest.Test(t, testARIWindowInThePastRenewsAtOnce)
}

func testARIWindowInThePastRenewsAtOnce(t *testing.T) {
	h := newTestSetup(t, nil)
	ctx := ctxT(t)
	if err := h.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.next(manager.EventObtained)
	h.waitIdle() // the CA offers no renewal information yet
	h.ca.mu.Lock()
	h.ca.ari = func(leaf *x509.Certificate) (acme.RenewalInfo, error) {
		var ri acme.RenewalInfo
		ri.SuggestedWindow.Start = leaf.NotBefore.Add(time.Hour)
		ri.SuggestedWindow.End = leaf.NotBefore.Add(2 * time.Hour)
		ri.RetryAfter = h.clock.Now().Add(6 * time.Hour)
		return ri, nil
	}
	h.ca.mu.Unlock()
	h.advance(12 * time.Hour) // the next check fetches it
	h.next(manager.EventRevoked)
	h.next(manager.EventRenewed)
}

// An empty, non-nil Backoff is a configuration mistake, not a reason to
// index an empty table on the first failure.
func TestEmptyBackoffDoesNotPanic(t *testing.T) {
	h := newTestSetup(t, func(c *manager.Config) { c.Backoff = []time.Duration{} })
	h.ca.setFail(errCA)
	if err := h.m.Manage(ctxT(t), testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	h.run()
	if ev := h.next(manager.EventFailed); !ev.NextAttempt.After(t0) {
		t.Errorf("failed event: %+v", ev)
	}
}

// Run returns only once the orders it started have ended: their state is
// saved and their events sent before the caller goes on (and, say, closes
// the store).
func TestRunWaitsForItsOrders(t *testing.T) { synctest.Test(t, testRunWaitsForItsOrders) }

func testRunWaitsForItsOrders(t *testing.T) {
	h := newTestSetup(t, nil)
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	manager.SetObtain(h.m, func(ctx context.Context, c manager.Spec, req issue.Request) (*issue.Issued, error) {
		close(started)
		<-ctx.Done()
		<-release // winding down
		finished.Store(true)
		return nil, ctx.Err()
	})
	if err := h.m.Manage(ctxT(t), testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.m.Run(ctx) }()
	<-started
	cancel()
	synctest.Wait()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while the order it started was still winding down", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Error("Run returned while the order it started was still running")
	}
}
