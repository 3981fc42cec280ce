package manager_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/managertest"
	"github.com/certkeeper/certkeeper/store"
)

// The order an attempt placed is kept in the state when the attempt is
// cut short (here by OrderTimeout), survives a restart, is passed as
// Resume to the next attempt, and is forgotten when an attempt ends in
// success or in a failure of the order.
func TestPendingOrderResumed(t *testing.T) {
	clock := managertest.NewFakeClock(t0)
	st := store.NewMemory()
	ca := &fakeCA{clock: clock, life: 90 * day}
	tweak := func(c *manager.Config) { c.OrderTimeout = 200 * time.Millisecond }
	const name = "a.example.com"

	var (
		mu      sync.Mutex
		resumes []string
	)
	// step decides what the next order does after recording its Resume.
	newManager := func(step func(ctx context.Context, req issue.Request) (*issue.Issued, error)) *manager.Manager {
		h := newHarness(t, st, clock, ca, tweak)
		manager.SetObtain(h.m, func(ctx context.Context, c manager.Spec, req issue.Request) (*issue.Issued, error) {
			mu.Lock()
			resumes = append(resumes, req.Resume)
			mu.Unlock()
			return step(ctx, req)
		})
		if err := h.m.Manage(ctxT(t), testCert(name)); err != nil {
			t.Fatal(err)
		}
		return h.m
	}
	pending := func(m *manager.Manager) string {
		s, _ := manager.LoadStatus(ctxT(t), &store.Certs{Store: st}, testCA)
		var stored string
		if len(s) == 1 {
			stored = s[0].PendingOrder
		}
		mem, _ := m.StatusOf(name)
		if mem.PendingOrder != stored {
			t.Errorf("pending order %q in memory, %q stored", mem.PendingOrder, stored)
		}
		return stored
	}

	// Placed, then out of time.
	m := newManager(func(ctx context.Context, req issue.Request) (*issue.Issued, error) {
		req.OnOrder("https://ca.test/order/1")
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err := m.Renew(ctxT(t), name); err == nil {
		t.Fatal("the order out of time succeeded")
	}
	if p := pending(m); p != "https://ca.test/order/1" {
		t.Fatalf("pending order %q after the attempt timed out", p)
	}

	// A restart (as after a kill): the next attempt resumes it and
	// succeeds.
	m = newManager(func(ctx context.Context, req issue.Request) (*issue.Issued, error) {
		now := clock.Now()
		return makeCert(req.Identifiers, 1, now, now.Add(90*day), nil)
	})
	if p := pending(m); p != "https://ca.test/order/1" {
		t.Fatalf("pending order %q after a restart", p)
	}
	if err := m.Renew(ctxT(t), name); err != nil {
		t.Fatal(err)
	}
	if p := pending(m); p != "" {
		t.Errorf("pending order %q kept after a success", p)
	}

	// A failed order is not resumed.
	m = newManager(func(ctx context.Context, req issue.Request) (*issue.Issued, error) {
		req.OnOrder("https://ca.test/order/2")
		return nil, errCA
	})
	if err := m.Renew(ctxT(t), name); err == nil {
		t.Fatal("the failing order succeeded")
	}
	if p := pending(m); p != "" {
		t.Errorf("pending order %q kept after the order failed", p)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []string{"", "https://ca.test/order/1", ""}
	if len(resumes) != len(want) {
		t.Fatalf("Resume of each order %q, want %q", resumes, want)
	}
	for i := range want {
		if resumes[i] != want[i] {
			t.Errorf("Resume of each order %q, want %q", resumes, want)
			break
		}
	}
}

// The new key an order is made with is kept with the order in flight, so
// that the attempt after an interruption resumes the order with the same
// key (an order the CA finalized meanwhile holds a certificate for it);
// it is dropped with the order once an attempt ends.
func TestPendingOrderKeepsItsKey(t *testing.T) {
	clock := managertest.NewFakeClock(t0)
	st := store.NewMemory()
	ca := &fakeCA{clock: clock, life: 90 * day}
	tweak := func(c *manager.Config) { c.OrderTimeout = 200 * time.Millisecond }
	const name = "a.example.com"
	var keys []crypto.PublicKey
	run := func(step func(ctx context.Context, req issue.Request) (*issue.Issued, error)) error {
		h := newHarness(t, st, clock, ca, tweak)
		manager.SetObtain(h.m, func(ctx context.Context, c manager.Spec, req issue.Request) (*issue.Issued, error) {
			if req.Key == nil {
				t.Error("an order without a key of its own")
			} else {
				keys = append(keys, req.Key.Public())
			}
			return step(ctx, req)
		})
		if err := h.m.Manage(ctxT(t), testCert(name)); err != nil {
			t.Fatal(err)
		}
		return h.m.Renew(ctxT(t), name)
	}
	stateHasKey := func() bool {
		raw, err := (&store.Certs{Store: st}).LoadState(ctxT(t), testCA, name)
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			PendingKey string `json:"pending_key"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		return s.PendingKey != ""
	}
	if err := run(func(ctx context.Context, req issue.Request) (*issue.Issued, error) {
		req.OnOrder("https://ca.test/order/1")
		<-ctx.Done()
		return nil, ctx.Err()
	}); err == nil {
		t.Fatal("the order out of time succeeded")
	}
	if !stateHasKey() {
		t.Fatal("no key kept with the pending order")
	}
	if err := run(func(ctx context.Context, req issue.Request) (*issue.Issued, error) {
		if req.Resume != "https://ca.test/order/1" {
			t.Errorf("Resume %q", req.Resume)
		}
		now := clock.Now()
		return makeCert(req.Identifiers, 1, now, now.Add(90*day), nil)
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !keys[0].(interface{ Equal(crypto.PublicKey) bool }).Equal(keys[1]) {
		t.Errorf("the resumed order is not made with the key kept (%d orders)", len(keys))
	}
	if stateHasKey() {
		t.Error("the key of the order is kept after the order ended")
	}
}

// An attempt killed after it stored its certificate and before its state
// forgot the order leaves a pending order whose certificate is the one
// held. The next attempt (a forced renewal here) does not take that
// certificate again as its renewal: it orders anew, with a new key.
func TestResumedOrderOfHeldCertificateOrdersAnew(t *testing.T) {
	clock := managertest.NewFakeClock(t0)
	st := store.NewMemory()
	ca := &fakeCA{clock: clock, life: 90 * day}
	const name = "a.example.com"
	certs := &store.Certs{Store: st}
	var (
		first     *issue.Issued
		resumes   []string
		orderKeys []crypto.PublicKey
	)
	h := newHarness(t, st, clock, ca, nil)
	manager.SetObtain(h.m, func(ctx context.Context, c manager.Spec, req issue.Request) (*issue.Issued, error) {
		req.OnOrder("https://ca.test/order/1")
		now := clock.Now()
		var err error
		first, err = makeCert(req.Identifiers, 1, now, now.Add(90*day), req.Key)
		return first, err
	})
	if err := h.m.Manage(ctxT(t), testCert(name)); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Renew(ctxT(t), name); err != nil {
		t.Fatal(err)
	}
	// The state as the kill left it: the order and its key still named.
	raw, err := certs.LoadState(ctxT(t), testCA, name)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	keyPEM, err := keys.MarshalPEM(first.Key)
	if err != nil {
		t.Fatal(err)
	}
	s["pending_order"], s["pending_key"] = "https://ca.test/order/1", string(keyPEM)
	raw, _ = json.Marshal(s)
	if err := certs.SaveState(ctxT(t), testCA, name, raw); err != nil {
		t.Fatal(err)
	}

	h = newHarness(t, st, clock, ca, nil) // a restart
	manager.SetObtain(h.m, func(ctx context.Context, c manager.Spec, req issue.Request) (*issue.Issued, error) {
		resumes = append(resumes, req.Resume)
		orderKeys = append(orderKeys, req.Key.Public())
		if req.Resume != "" {
			return first, nil // the CA's answer: the order is valid, its certificate the one held
		}
		req.OnOrder("https://ca.test/order/2")
		now := clock.Now()
		return makeCert(req.Identifiers, 2, now, now.Add(90*day), req.Key)
	})
	if err := h.m.Manage(ctxT(t), testCert(name)); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Renew(ctxT(t), name); err != nil {
		t.Fatal(err)
	}
	if len(resumes) != 2 || resumes[0] != "https://ca.test/order/1" || resumes[1] != "" {
		t.Fatalf("orders with Resume %q, want the pending order and then a new one", resumes)
	}
	if orderKeys[1].(interface{ Equal(crypto.PublicKey) bool }).Equal(first.Key.Public()) {
		t.Error("the new order is made with the key of the certificate held")
	}
	status, _ := h.m.StatusOf(name)
	if status.Serial != "2" || status.PendingOrder != "" {
		t.Errorf("after the renewal: serial %q, pending order %q; want 2 and none", status.Serial, status.PendingOrder)
	}
}

// An order that another process sharing the store left in flight (killed
// after the CA issued its certificate) is finished by a Manager that
// takes the certificate that process stored before, not written over by
// that Manager's state: the certificate the CA issued is kept. When the
// order gave the certificate stored already, nothing more is ordered.
func TestLeftOrderFinished(t *testing.T) {
	for _, storedAlready := range []bool{false, true} {
		t.Run(map[bool]string{false: "issued", true: "stored already"}[storedAlready], func(t *testing.T) {
			clock := managertest.NewFakeClock(t0)
			st := store.NewMemory()
			ca := &fakeCA{clock: clock, life: 90 * day}
			const name = "a.example.com"
			certs := &store.Certs{Store: st}
			var serial int64
			obtainNew := func(ctx context.Context, c manager.Spec, req issue.Request) (*issue.Issued, error) {
				serial++
				req.OnOrder(fmt.Sprintf("https://ca.test/order/%d", serial))
				now := clock.Now()
				return makeCert(req.Identifiers, serial, now, now.Add(90*day), req.Key)
			}
			manage := func(h *harness) {
				if err := h.m.Manage(ctxT(t), testCert(name)); err != nil {
					t.Fatal(err)
				}
			}
			daemon := newHarness(t, st, clock, ca, nil)
			manager.SetObtain(daemon.m, obtainNew)
			manage(daemon)
			if err := daemon.m.Renew(ctxT(t), name); err != nil {
				t.Fatal(err)
			}

			// Another process renews (serial 2), then renews again and is
			// killed once the CA has issued serial 3: its state names the
			// order and its key.
			clock.Advance(day)
			cli := newHarness(t, st, clock, ca, nil)
			manager.SetObtain(cli.m, obtainNew)
			manage(cli)
			if err := cli.m.Renew(ctxT(t), name); err != nil {
				t.Fatal(err)
			}
			now := clock.Now()
			third, err := makeCert(testCert(name).Identifiers, 3, now, now.Add(90*day), nil)
			if err != nil {
				t.Fatal(err)
			}
			if storedAlready { // killed after storing it, before its state forgot the order
				manager.SetObtain(cli.m, func(context.Context, manager.Spec, issue.Request) (*issue.Issued, error) { return third, nil })
				if err := cli.m.Renew(ctxT(t), name); err != nil {
					t.Fatal(err)
				}
			}
			keyPEM, err := keys.MarshalPEM(third.Key)
			if err != nil {
				t.Fatal(err)
			}
			noteInState(t, certs, name, map[string]any{"pending_order": "https://ca.test/order/3", "pending_key": string(keyPEM)})

			// The daemon, holding serial 1, renews: it finds the newer
			// certificate and the order left in flight.
			var reqs []issue.Request
			manager.SetObtain(daemon.m, func(ctx context.Context, c manager.Spec, req issue.Request) (*issue.Issued, error) {
				reqs = append(reqs, req)
				if req.Resume == "https://ca.test/order/3" {
					return third, nil // the CA's answer: valid, its certificate issued
				}
				return nil, fmt.Errorf("a new order (Resume %q) for a certificate not due", req.Resume)
			})
			if err := daemon.m.Renew(ctxT(t), name); err != nil {
				t.Fatal(err)
			}
			if len(reqs) != 1 || !reqs[0].ResumeOnly {
				t.Fatalf("%d orders (%+v), want the order left, finished only", len(reqs), reqs)
			}
			if !reqs[0].Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(third.Key.Public()) {
				t.Error("the order left is finished with another key than its own")
			}
			stored, err := certs.LoadCertificate(ctxT(t), testCA, name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(stored.ChainPEM, third.Chain.PEM) {
				t.Error("the certificate stored is not the one the CA issued for the order left")
			}
			status, _ := daemon.m.StatusOf(name)
			ss, _ := manager.LoadStatus(ctxT(t), certs, testCA)
			if status.Serial != "3" || status.PendingOrder != "" || len(ss) != 1 || ss[0].PendingOrder != "" || ss[0].Serial != "3" {
				t.Errorf("after: in memory serial %q pending %q; stored %+v", status.Serial, status.PendingOrder, ss)
			}
		})
	}
}

// A certificate the store could not keep is not ordered: a directory
// where the directory store puts the live link fails the attempt before
// any order, with an error that names it (store.Certs.CheckSave).
func TestNothingOrderedThatTheStoreCannotKeep(t *testing.T) {
	clock := managertest.NewFakeClock(t0)
	root := t.TempDir()
	d, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ca := &fakeCA{clock: clock, life: 90 * day}
	h := newHarness(t, d, clock, ca, nil)
	const name = "a.example.com"
	if err := h.m.Manage(ctxT(t), testCert(name)); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Renew(ctxT(t), name); err != nil {
		t.Fatal(err)
	}
	lives, _ := filepath.Glob(filepath.Join(root, "certificates", "*", name, "live"))
	if len(lives) != 1 {
		t.Fatalf("live links %v", lives)
	}
	if err := os.Remove(lives[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(lives[0], 0o700); err != nil {
		t.Fatal(err)
	}
	err = h.m.Renew(ctxT(t), name)
	if err == nil || !strings.Contains(err.Error(), "live") {
		t.Errorf("Renew with a directory where the live link goes: %v", err)
	}
	if n := ca.orders.Load(); n != 1 {
		t.Errorf("%d orders, want only the first: the second could not be kept", n)
	}
}

// An order left in flight by an attempt killed after the CA issued, on a
// certificate that is not due, is finished by the next plain check (a
// cron renew, a daemon's start): its certificate is stored at once, not
// when the certificate held falls due months later, and no new order is
// placed; one that cannot be finished is dropped.
func TestOrderLeftFinishedWhenNotDue(t *testing.T) {
	for _, finishable := range []bool{true, false} {
		t.Run(map[bool]string{true: "issued", false: "not finishable"}[finishable], func(t *testing.T) {
			const name = "a.example.com"
			ctx := ctxT(t)
			clock := managertest.NewFakeClock(t0)
			st := store.NewMemory()
			certs := &store.Certs{Store: st}
			first := newHarness(t, st, clock, &fakeCA{clock: clock, life: 90 * day}, nil)
			if err := first.m.Manage(ctx, testCert(name)); err != nil {
				t.Fatal(err)
			}
			if _, err := first.m.RenewIfDue(ctx, name); err != nil {
				t.Fatal(err)
			}
			// A forced renewal killed once the CA issued: its state names
			// the order and its key; the certificate was not stored.
			clock.Advance(day)
			now := clock.Now()
			issued, err := makeCert(testCert(name).Identifiers, 7, now, now.Add(90*day), nil)
			if err != nil {
				t.Fatal(err)
			}
			keyPEM, err := keys.MarshalPEM(issued.Key)
			if err != nil {
				t.Fatal(err)
			}
			const order = "https://ca.test/order/7"
			noteInState(t, certs, name, map[string]any{"pending_order": order, "pending_key": string(keyPEM)})

			next := newHarness(t, st, clock, &fakeCA{clock: clock, life: 90 * day}, nil)
			var reqs []issue.Request
			manager.SetObtain(next.m, func(ctx context.Context, c manager.Spec, req issue.Request) (*issue.Issued, error) {
				reqs = append(reqs, req)
				if req.Resume == order && finishable {
					return issued, nil
				}
				return nil, fmt.Errorf("%w: no such order", issue.ErrNotResumed)
			})
			if err := next.m.Manage(ctx, testCert(name)); err != nil {
				t.Fatal(err)
			}
			if _, err := next.m.RenewIfDue(ctx, name); err != nil {
				t.Fatal(err)
			}
			if len(reqs) != 1 || reqs[0].Resume != order || !reqs[0].ResumeOnly {
				t.Fatalf("orders %+v; want the order left, finished only", reqs)
			}
			status, _ := next.m.StatusOf(name)
			wantSerial := "1"
			if finishable {
				wantSerial = "7"
			}
			if status.Serial != wantSerial || status.PendingOrder != "" {
				t.Errorf("after: serial %q, pending %q; want %s, none", status.Serial, status.PendingOrder, wantSerial)
			}
			// Nothing more is due: a second check orders nothing.
			if due, err := next.m.RenewIfDue(ctx, name); err != nil || due || len(reqs) != 1 {
				t.Errorf("a second check: due %v, %v, %d orders; want nothing", due, err, len(reqs))
			}
		})
	}
}
