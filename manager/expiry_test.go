package manager_test

// Issue 11, point 9: a renewal never lets a certificate expire while the
// CA can still issue.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/managertest"
	"github.com/certkeeper/certkeeper/store"
)

// refuseReplaces makes the CA refuse, with err, every order that names a
// certificate it replaces.
func refuseReplaces(err error) func(context.Context, issue.Request) error {
	return func(_ context.Context, req issue.Request) error {
		if req.Replaces != "" {
			return err
		}
		return nil
	}
}

// 9a: an order carrying replaces that the CA refuses with anything but a
// rate limit is placed again at once without it, and the fallback logged.
func TestReplacesRefusedFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"500", &acme.Problem{Type: acme.ProblemServerInternal, Status: 500, Detail: "replaces broke us"}},
		{"500 without a problem type", &acme.Problem{Status: 500, Detail: "<html>oops"}},
		{"malformed", &acme.Problem{Type: acme.ProblemMalformed, Status: 400, Detail: "unknown replaces"}},
		{"unauthorized", &acme.Problem{Type: acme.ProblemUnauthorized, Status: 403, Detail: "not your certificate"}},
		{"alreadyReplaced", &acme.Problem{Type: acme.ProblemAlreadyReplaced, Status: 409}},
		{"wrapped by issue", fmt.Errorf("issue: new order: %w", &acme.Problem{Type: acme.ProblemServerInternal, Status: 500})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			h := newTestSetup(t, func(c *manager.Config) {
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			h.ca.offerWindow(60*day, 62*day)
			ctx := ctxT(t)
			if err := h.m.Manage(ctx, testCert("a.example.com")); err != nil {
				t.Fatal(err)
			}
			if err := h.m.Renew(ctx, "a.example.com"); err != nil {
				t.Fatal(err)
			}
			first := h.m.Lookup("a.example.com")
			h.ca.setFailIf(refuseReplaces(tc.err))
			if err := h.m.Renew(ctx, "a.example.com"); err != nil {
				t.Fatalf("Renew = %v, want the order without replaces to succeed", err)
			}
			if h.m.Lookup("a.example.com") == first {
				t.Error("the old certificate is still served")
			}
			r := h.ca.orderedReplaces()
			if len(r) != 3 || r[0] != "" || r[1] == "" || r[2] != "" {
				t.Errorf("Replaces of the orders: %q, want none, then the old certificate, then none", r)
			}
			if l := logs.String(); !strings.Contains(l, "ordering again without replaces") || !strings.Contains(l, "level=WARN") {
				t.Errorf("the fallback is not logged:\n%s", l)
			}
			if st := h.m.Status()[0]; st.Failures != 0 {
				t.Errorf("Status = %+v", st)
			}
			// The next renewal, of the new certificate, names it again.
			h.ca.setFailIf(nil)
			if err := h.m.Renew(ctx, "a.example.com"); err != nil {
				t.Fatal(err)
			}
			if r := h.ca.orderedReplaces(); len(r) != 4 || r[3] == "" {
				t.Errorf("Replaces of the orders: %q, want the new certificate named", r)
			}
		})
	}
}

// 9a: a rate limit, or an order that failed validation, is not a
// refusal of replaces: no second order.
func TestReplacesNotDroppedForRateLimitOrValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"rateLimited", &acme.Problem{Type: acme.ProblemRateLimited, Status: 429, Detail: "too many"}},
		{"429", &acme.Problem{Status: 429}},
		{"validation failed", &acme.OrderError{Order: acme.Order{URL: "https://ca.test/order/1"},
			Authorizations: []acme.Authorization{{Identifier: acme.Identifier{Type: "dns", Value: "a.example.com"},
				Challenges: []acme.Challenge{{Type: "http-01", Error: &acme.Problem{Type: acme.ProblemConnection, Detail: "could not connect"}}}}}}},
		{"no answer", errors.New("dial tcp: connection refused")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestSetup(t, func(c *manager.Config) { c.Backoff = []time.Duration{time.Hour} })
			h.ca.offerWindow(60*day, 62*day)
			ctx := ctxT(t)
			if err := h.m.Manage(ctx, testCert("a.example.com")); err != nil {
				t.Fatal(err)
			}
			if err := h.m.Renew(ctx, "a.example.com"); err != nil {
				t.Fatal(err)
			}
			h.ca.setFailIf(refuseReplaces(tc.err))
			if err := h.m.Renew(ctx, "a.example.com"); err == nil {
				t.Fatal("Renew succeeded")
			}
			if r := h.ca.orderedReplaces(); len(r) != 2 || r[1] == "" {
				t.Errorf("Replaces of the orders: %q, want no order without replaces", r)
			}
			// Nor does the next attempt drop it.
			h.ca.setFailIf(nil)
			if err := h.m.Renew(ctx, "a.example.com"); err != nil {
				t.Fatal(err)
			}
			if r := h.ca.orderedReplaces(); len(r) != 3 || r[2] == "" {
				t.Errorf("Replaces of the orders: %q", r)
			}
		})
	}
}

// 9a: when the refusal used up the order's time (the client retried a 500
// until the deadline), the next attempt, even after a restart, orders
// without replaces instead of repeating the refused order.
func TestReplacesRefusedAtDeadlineNextAttemptWithout(t *testing.T) {
	clock := managertest.NewFakeClock(t0)
	st := store.NewMemory()
	ca := &fakeCA{clock: clock, life: 90 * day}
	ca.offerWindow(60*day, 62*day)
	tweak := func(c *manager.Config) {
		c.Backoff = []time.Duration{time.Minute}
		c.OrderTimeout = 200 * time.Millisecond
	}
	h1 := newHarness(t, st, clock, ca, tweak)
	ctx := ctxT(t)
	if err := h1.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	if err := h1.m.Renew(ctx, "a.example.com"); err != nil {
		t.Fatal(err)
	}
	ca.setFailIf(func(ctx context.Context, req issue.Request) error {
		if req.Replaces == "" {
			return nil
		}
		<-ctx.Done() // retried until the deadline
		return fmt.Errorf("acme: newOrder: %w (last answer: %w)", ctx.Err(), &acme.Problem{Type: acme.ProblemServerInternal, Status: 500})
	})
	if err := h1.m.Renew(ctx, "a.example.com"); err == nil {
		t.Fatal("Renew succeeded")
	}
	if r := ca.orderedReplaces(); len(r) != 2 || r[1] == "" {
		t.Fatalf("Replaces of the orders: %q", r)
	}
	// A new Manager on the same store: its first attempt does not name
	// the certificate.
	h2 := newHarness(t, st, clock, ca, tweak)
	if err := h2.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	if err := h2.m.Renew(ctx, "a.example.com"); err != nil {
		t.Fatalf("Renew after the restart: %v", err)
	}
	if r := ca.orderedReplaces(); len(r) != 3 || r[2] != "" {
		t.Errorf("Replaces of the orders: %q, want the last without replaces", r)
	}
}

// alarmMetrics records the alarms counted.
type alarmMetrics struct {
	manager.Metrics
	mu     sync.Mutex
	alarms map[manager.EventType]int
}

func (a *alarmMetrics) Alarm(name string, typ manager.EventType) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.alarms == nil {
		a.alarms = map[manager.EventType]int{}
	}
	a.alarms[typ]++
}

func (a *alarmMetrics) count(typ manager.EventType) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.alarms[typ]
}

type nopMetrics struct{}

func (nopMetrics) ObserveExpiry(string, time.Time) {}
func (nopMetrics) RenewalAttempt(string)           {}
func (nopMetrics) RenewalFailure(string)           {}
func (nopMetrics) LastSuccess(string, time.Time)   {}
func (nopMetrics) OrderDuration(time.Duration)     {}
func (nopMetrics) ObserveRequest(acme.RequestInfo) {}
func (nopMetrics) Forget(string)                   {}

// 9d: a certificate inside the panic interval, or expired, whose renewal
// keeps failing raises EventPanic, OnPanic and the alarm metric at every
// check, also while it waits for the CA's Retry-After (no attempt fails
// then), and after it has expired.
func TestPanicEveryCheckNotOnce(t *testing.T) { synctest.Test(t, testPanicEveryCheckNotOnce) }

func testPanicEveryCheckNotOnce(t *testing.T) {
	am := &alarmMetrics{Metrics: nopMetrics{}}
	h := newTestSetup(t, func(c *manager.Config) { c.Metrics = am })
	ctx := ctxT(t)
	if err := h.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.next(manager.EventObtained)
	// Rate limited for four days at every attempt.
	h.ca.setFailIf(func(context.Context, issue.Request) error {
		return &acme.Problem{Type: acme.ProblemRateLimited, Status: 429, RetryAfter: h.clock.Now().Add(4 * day)}
	})
	for h.clock.Now().Before(t0.Add(75 * day)) {
		h.advance(12 * time.Hour)
	}
	h.waitIdle()
	if n := h.panics.Load(); n != 0 {
		t.Fatalf("%d panics outside the panic interval", n)
	}
	if am.count(manager.EventExpiringSoon) != 1 {
		t.Errorf("expiring_soon counted %d times, want once", am.count(manager.EventExpiringSoon))
	}
	// From 75 days on (15 left), and past expiry at 90 days, every check
	// (every 12 hours) raises it, whether an attempt failed or not.
	for i := 1; h.clock.Now().Before(t0.Add(93 * day)); i++ {
		before, beforeMetric := h.panics.Load(), am.count(manager.EventPanic)
		h.advance(12 * time.Hour)
		h.waitIdle()
		if h.panics.Load() <= before {
			t.Fatalf("no panic at %v (%v left)", h.clock.Now().Sub(t0), t0.Add(90*day).Sub(h.clock.Now()))
		}
		if am.count(manager.EventPanic) <= beforeMetric {
			t.Fatalf("panic metric not counted at %v", h.clock.Now().Sub(t0))
		}
	}
	if n := h.ca.orders.Load(); n > 10 {
		t.Errorf("%d orders: the Retry-After was not respected", n)
	}
	// Events carry the last error.
	for {
		select {
		case ev := <-h.events:
			if ev.Type == manager.EventPanic && (ev.Err == nil || ev.Err.Error() == "") {
				t.Fatalf("panic event without the error: %+v", ev)
			}
			continue
		default:
		}
		break
	}
}

// 9b: a CA window that runs up to notAfter is not followed past the
// margin for retries: the renewal comes when a sixth of the lifetime
// (the panic interval) is left, at the latest.
func TestRenewalKeepsMarginBeforeExpiry(t *testing.T) {
	synctest.Test(t, testRenewalKeepsMarginBeforeExpiry)
}

func testRenewalKeepsMarginBeforeExpiry(t *testing.T) {
	h := newTestSetup(t, func(c *manager.Config) { c.Rand = func() float64 { return 0.999999 } })
	h.ca.offerWindow(80*day, 90*day)
	ctx := ctxT(t)
	if err := h.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.next(manager.EventObtained)
	h.waitIdle()
	if st := h.m.Status()[0]; !st.NextRenewal.Equal(t0.Add(75 * day)) {
		t.Fatalf("NextRenewal = %v after notBefore, want 75 days (15 left)", st.NextRenewal.Sub(t0))
	}
	for h.clock.Now().Before(t0.Add(75*day - 12*time.Hour)) {
		h.advance(12 * time.Hour)
	}
	h.waitIdle()
	h.quiet(manager.EventRenewing)
	h.advance(12 * time.Hour)
	h.next(manager.EventRenewed)
	if now := h.clock.Now(); now.After(t0.Add(75 * day)) {
		t.Errorf("renewed at %v", now.Sub(t0))
	}
}

// 9c: while the certificate is valid, a failing renewal is retried
// before it expires, however long the backoff table's waits; once the
// CA issues again, the certificate never expired.
func TestBackoffLandsBeforeExpiry(t *testing.T) { synctest.Test(t, testBackoffLandsBeforeExpiry) }

func testBackoffLandsBeforeExpiry(t *testing.T) {
	h := newTestSetup(t, func(c *manager.Config) {
		c.Backoff = []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour}
	})
	h.ca.life = 2 * day
	ctx := ctxT(t)
	if err := h.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.next(manager.EventObtained)
	notAfter := t0.Add(2 * day)
	h.ca.setFail(&acme.Problem{Type: acme.ProblemServerInternal, Status: 500})
	failures := 0
	for failures < 6 {
		h.waitIdle()
		next, ok := h.clock.NextDeadline()
		if !ok {
			t.Fatal("no timer armed")
		}
		if !next.Before(notAfter) {
			t.Fatalf("after %d failures the next check is at %v, after expiry (%v)", failures, next.Sub(t0), notAfter.Sub(t0))
		}
		h.clock.Set(next)
		h.waitIdle()
	drain:
		for {
			select {
			case ev := <-h.events:
				if ev.Type != manager.EventFailed {
					continue
				}
				failures++
				if !ev.NextAttempt.Before(notAfter) {
					t.Fatalf("failure %d at %v: next attempt at %v, after expiry", ev.Attempt, ev.Time.Sub(t0), ev.NextAttempt.Sub(t0))
				}
			default:
				break drain
			}
		}
	}
	// The third wait of the table (24h) was shortened: six failures in
	// under a day.
	if h.clock.Now().After(notAfter) {
		t.Fatalf("six failures took until %v", h.clock.Now().Sub(t0))
	}
	h.ca.setFail(nil)
	next, _ := h.clock.NextDeadline()
	h.advance(next.Sub(h.clock.Now()))
	ev := h.next(manager.EventRenewed)
	if !ev.Time.Before(notAfter) {
		t.Errorf("renewed at %v, after expiry", ev.Time.Sub(t0))
	}
}

// 9e: a renew-before threshold the user set holds against a later CA
// window: a 40-day certificate set to renew with 30 days left is renewed
// with 30 days left, not when the window (12 days left) says.
func TestReissueBeforeHoldsAgainstWindow(t *testing.T) {
	synctest.Test(t, testReissueBeforeHoldsAgainstWindow)
}

func testReissueBeforeHoldsAgainstWindow(t *testing.T) {
	h := newTestSetup(t, func(c *manager.Config) { c.ReissueBefore = 30 * day })
	h.ca.life = 40 * day
	h.ca.offerWindow(27*day, 29*day)
	ctx := ctxT(t)
	if err := h.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.next(manager.EventObtained)
	h.waitIdle()
	if st := h.m.Status()[0]; !st.NextRenewal.Equal(t0.Add(10*day)) || st.ARIWindowStart.IsZero() {
		t.Fatalf("Status = %+v, want the window known and the renewal at 10 days (30 left)", st)
	}
	for h.clock.Now().Before(t0.Add(9*day + 12*time.Hour)) {
		h.advance(12 * time.Hour)
	}
	h.waitIdle()
	h.quiet(manager.EventRenewing)
	h.advance(12 * time.Hour)
	ev := h.next(manager.EventRenewed)
	if left := t0.Add(40 * day).Sub(ev.Time); left != 30*day {
		t.Errorf("renewed with %v left, want 30 days", left)
	}
	// With a window earlier than the threshold, the window wins.
	h2 := newTestSetup(t, func(c *manager.Config) { c.ReissueBefore = 30 * day })
	h2.ca.life = 40 * day
	h2.ca.offerWindow(4*day, 6*day)
	if err := h2.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	h2.run()
	h2.next(manager.EventObtained)
	h2.waitIdle()
	if st := h2.m.Status()[0]; !st.NextRenewal.Equal(t0.Add(5 * day)) {
		t.Fatalf("NextRenewal = %v after notBefore, want the window's 5 days", st.NextRenewal.Sub(t0))
	}
}

// Point 7: a process that stored a renewal and died before writing its
// state leaves a state about the certificate replaced; the next Manager
// writes it again for the certificate held.
func TestStaleStateRewrittenAtManage(t *testing.T) {
	clock := managertest.NewFakeClock(t0)
	st := store.NewMemory()
	ca := &fakeCA{clock: clock, life: 90 * day}
	ctx := ctxT(t)
	h1 := newHarness(t, st, clock, ca, nil)
	if err := h1.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	if err := h1.m.Renew(ctx, "a.example.com"); err != nil {
		t.Fatal(err)
	}
	// A renewal stored by a process that died before its state.
	clock.Advance(61 * day)
	ic, err := ca.obtain(ctx, testCert("a.example.com"), issue.Request{Identifiers: testCert("a.example.com").Identifiers})
	if err != nil {
		t.Fatal(err)
	}
	certs := &store.Certs{Store: st}
	res, err := manager.RecordOf(testCert("a.example.com"), ic, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := certs.SaveCertificate(ctx, res); err != nil {
		t.Fatal(err)
	}
	if sts, _ := manager.LoadStatus(ctx, certs, testCA); len(sts) != 1 || sts[0].Serial != "1" {
		t.Fatalf("before: %+v", sts)
	}
	h2 := newHarness(t, st, clock, ca, nil)
	if err := h2.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	sts, err := manager.LoadStatus(ctx, certs, testCA)
	if err != nil || len(sts) != 1 || sts[0].Serial != "2" || !sts[0].NotAfter.Equal(t0.Add(151*day)) || !sts[0].NextRenewal.Equal(t0.Add(121*day)) {
		t.Errorf("state after Manage: %+v, %v; want the stored certificate's", sts, err)
	}
}

// A certificate whose names grew (a name added to its domains) and whose
// order for them fails raises EventFailed, not EventPanic: the certificate
// held is still served for its names until it expires, months away, and
// the panic says a certificate is about to expire.
func TestAddedNameFailingIsNoPanic(t *testing.T) {
	ctx := ctxT(t)
	h := newTestSetup(t, nil)
	if err := h.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.RenewIfDue(ctx, "a.example.com"); err != nil {
		t.Fatal(err)
	}
	grown := testCert("a.example.com", "b.example.com")
	grown.Name = "a.example.com"
	if err := h.m.Manage(ctx, grown); err != nil {
		t.Fatal(err)
	}
	h.ca.setFail(errCA)
	h.clock.Advance(day)
	if _, err := h.m.RenewIfDue(ctx, "a.example.com"); err == nil {
		t.Fatal("the order for the grown names succeeded; want it to fail")
	}
	var failed, panics int
	for done := false; !done; {
		select {
		case ev := <-h.events:
			switch ev.Type {
			case manager.EventFailed:
				failed++
			case manager.EventPanic:
				panics++
			}
		default:
			done = true
		}
	}
	if failed != 1 || panics != 0 || h.panics.Load() != 0 {
		t.Errorf("events: %d failed, %d panic (OnPanic %d); want one failed, no panic", failed, panics, h.panics.Load())
	}
}
