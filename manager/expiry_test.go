package manager_test

// Issue 11, point 9: a renewal never lets a certificate expire while the
// CA can still issue.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
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
