package manager_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/managertest"
	"github.com/certkeeper/certkeeper/store"
)

// deadStore is a store whose process dies at some point: once killed,
// every write is lost (refused), as the writes a kill -9 prevents. With
// atSwitch, it dies right after the write that makes a new certificate
// the one stored (store.ChangeCertificate): the certificate is live, and
// nothing after it is written.
type deadStore struct {
	*store.Memory
	certs    *store.Certs
	atSwitch bool
	dead     atomic.Bool
}

var errDead = errors.New("the process is dead")

func (d *deadStore) write(key string) error {
	if d.dead.Load() {
		return errDead
	}
	return nil
}

func (d *deadStore) after(key string) {
	if d.atSwitch && d.certs.WhatChanged(key).Kind == store.ChangeCertificate {
		d.dead.Store(true)
	}
}

func (d *deadStore) Put(ctx context.Context, key string, value []byte) error {
	if err := d.write(key); err != nil {
		return err
	}
	err := d.Memory.Put(ctx, key, value)
	d.after(key)
	return err
}

func (d *deadStore) Delete(ctx context.Context, key string) error {
	if err := d.write(key); err != nil {
		return err
	}
	return d.Memory.Delete(ctx, key)
}

func (d *deadStore) Append(ctx context.Context, key string, data []byte) error {
	if err := d.write(key); err != nil {
		return err
	}
	return d.Memory.Append(ctx, key, data)
}

// countingCA issues serial 1, 2, ... and names each order it places; an
// order resumed gives the certificate it gave before, as a CA's valid
// order does.
type countingCA struct {
	clock  *managertest.FakeClock
	mu     sync.Mutex
	serial int64
	issued map[string]*issue.Issued // by order URL
}

func (c *countingCA) obtain(ctx context.Context, _ manager.Spec, req issue.Request) (*issue.Issued, error) {
	c.mu.Lock()
	if ic := c.issued[req.Resume]; ic != nil {
		c.mu.Unlock()
		return ic, nil
	}
	c.serial++
	n := c.serial
	c.mu.Unlock()
	url := fmt.Sprintf("https://ca.test/order/%d", n)
	if req.OnOrder != nil {
		req.OnOrder(url)
	}
	now := c.clock.Now()
	ic, err := makeCert(req.Identifiers, n, now, now.Add(90*day), req.Key)
	if err == nil {
		c.mu.Lock()
		if c.issued == nil {
			c.issued = map[string]*issue.Issued{}
		}
		c.issued[url] = ic
		c.mu.Unlock()
	}
	return ic, err
}

func (c *countingCA) orders() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.serial
}

// announcements returns the obtained and renewed events in h's queue
// now.
func announcements(h *harness) []manager.Event {
	var out []manager.Event
	for {
		select {
		case ev := <-h.events:
			if ev.Type == manager.EventObtained || ev.Type == manager.EventRenewed {
				out = append(out, ev)
			}
		default:
			return out
		}
	}
}

// A renewal or a first obtain killed after the store switched to the new
// certificate and before its hooks ran (at the switch, or during the
// hooks): the next Manager that loads the certificate, here one that
// renews what is due as `certkeeper renew` does, sends the event that
// runs the hooks, once, of the right type, for the certificate live,
// without ordering; the Manager after it sends nothing.
func TestKilledBeforeHooksAnnouncedOnLoad(t *testing.T) {
	for _, tc := range []struct {
		name     string
		renewal  bool // else a first obtain
		atSwitch bool // else killed while its hooks run
		want     manager.EventType
	}{
		{"renewal killed at the switch", true, true, manager.EventRenewed},
		{"renewal killed in its hooks", true, false, manager.EventRenewed},
		{"obtain killed at the switch", false, true, manager.EventObtained},
		{"obtain killed in its hooks", false, false, manager.EventObtained},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const name = "a.example.com"
			clock := managertest.NewFakeClock(t0)
			mem := store.NewMemory()
			ca := &countingCA{clock: clock}
			if tc.renewal {
				first := newHarness(t, mem, clock, &fakeCA{clock: clock, life: 90 * day}, nil)
				manager.SetObtain(first.m, ca.obtain)
				if err := first.m.Manage(ctxT(t), testCert(name)); err != nil {
					t.Fatal(err)
				}
				if _, err := first.m.RenewIfDue(ctxT(t), name); err != nil {
					t.Fatal(err)
				}
				clock.Advance(day)
			}

			ds := &deadStore{Memory: mem, certs: &store.Certs{Store: mem}, atSwitch: tc.atSwitch}
			killed := newHarness(t, ds, clock, &fakeCA{clock: clock, life: 90 * day}, func(c *manager.Config) {
				c.RescueDir = t.TempDir() // where the store's refusal puts the certificate
				on := c.OnEvent
				c.OnEvent = func(ev manager.Event) {
					if ev.Type == manager.EventObtained || ev.Type == manager.EventRenewed {
						ds.dead.Store(true) // killed while the hooks run
					}
					on(ev)
				}
			})
			manager.SetObtain(killed.m, ca.obtain)
			if err := killed.m.Manage(ctxT(t), testCert(name)); err != nil {
				t.Fatal(err)
			}
			_ = killed.m.Renew(ctxT(t), name) // its end is not seen: it is dead
			if !ds.dead.Load() {
				t.Fatal("the process was not killed")
			}
			live := fmt.Sprint(ca.orders())

			// The next run, not forced.
			next := newHarness(t, mem, clock, &fakeCA{clock: clock, life: 90 * day}, nil)
			manager.SetObtain(next.m, ca.obtain)
			if err := next.m.Manage(ctxT(t), testCert(name)); err != nil {
				t.Fatal(err)
			}
			before := ca.orders()
			if _, err := next.m.RenewIfDue(ctxT(t), name); err != nil {
				t.Fatal(err)
			}
			evs := announcements(next)
			if len(evs) != 1 || evs[0].Type != tc.want {
				t.Fatalf("events that run the hooks after the kill: %+v, want one %s", evs, tc.want)
			}
			if st, _ := next.m.StatusOf(name); st.Serial != live || st.PendingOrder != "" {
				t.Errorf("after announcing: serial %q, pending order %q; want %s (the certificate live) and none", st.Serial, st.PendingOrder, live)
			}
			if n := ca.orders() - before; n != 0 {
				t.Errorf("%d orders placed after the kill; want none (the certificate live is not due)", n)
			}

			// Announced once: the run after it sends nothing.
			again := newHarness(t, mem, clock, &fakeCA{clock: clock, life: 90 * day}, nil)
			manager.SetObtain(again.m, ca.obtain)
			if err := again.m.Manage(ctxT(t), testCert(name)); err != nil {
				t.Fatal(err)
			}
			if _, err := again.m.RenewIfDue(ctxT(t), name); err != nil {
				t.Fatal(err)
			}
			if evs := announcements(again); len(evs) != 0 {
				t.Errorf("events after the announcement: %+v, want none", evs)
			}
		})
	}
}

// A Manager sharing the store that loads a certificate another one has
// just stored and not yet announced (its hooks are running, the state
// not yet saved) does not announce it: the process that stored it does,
// and the lock it holds until its state is saved tells the other one so.
func TestSharedStoreAnnouncedOnce(t *testing.T) {
	const name = "a.example.com"
	clock := managertest.NewFakeClock(t0)
	mem := store.NewMemory()
	ca := &countingCA{clock: clock}
	var other *harness
	renewer := newHarness(t, mem, clock, &fakeCA{clock: clock, life: 90 * day}, func(c *manager.Config) {
		on := c.OnEvent
		c.OnEvent = func(ev manager.Event) {
			if ev.Type == manager.EventRenewed {
				// Another process starts while this one's hooks run.
				if err := other.m.Manage(ctxT(t), testCert(name)); err != nil {
					t.Error(err)
				}
			}
			on(ev)
		}
	})
	manager.SetObtain(renewer.m, ca.obtain)
	other = newHarness(t, mem, clock, &fakeCA{clock: clock, life: 90 * day}, nil)
	manager.SetObtain(other.m, ca.obtain)
	if err := renewer.m.Manage(ctxT(t), testCert(name)); err != nil {
		t.Fatal(err)
	}
	if _, err := renewer.m.RenewIfDue(ctxT(t), name); err != nil {
		t.Fatal(err)
	}
	clock.Advance(day)
	if err := renewer.m.Renew(ctxT(t), name); err != nil {
		t.Fatal(err)
	}
	if evs := announcements(renewer); len(evs) != 2 || evs[1].Type != manager.EventRenewed {
		t.Fatalf("the renewer's events: %+v, want obtained then renewed", evs)
	}
	before := ca.orders()
	if _, err := other.m.RenewIfDue(ctxT(t), name); err != nil {
		t.Fatal(err)
	}
	if evs := announcements(other); len(evs) != 0 {
		t.Errorf("the other process announced %+v; the renewer did", evs)
	}
	if n := ca.orders() - before; n != 0 {
		t.Errorf("the other process placed %d orders, want none", n)
	}
	if st, _ := other.m.StatusOf(name); st.Serial != "2" {
		t.Errorf("the other process holds serial %q, want 2", st.Serial)
	}
}

// A Manager sharing the store that, under the lock, takes a certificate
// another process stored and was killed before announcing (it left the
// order that gave it in the state) announces it, once, and orders
// nothing: before, it finished that order, found the certificate held
// and said nothing.
func TestTakenUnannouncedCertificateAnnounced(t *testing.T) {
	const name = "a.example.com"
	clock := managertest.NewFakeClock(t0)
	mem := store.NewMemory()
	ca := &countingCA{clock: clock}
	daemon := newHarness(t, mem, clock, &fakeCA{clock: clock, life: 90 * day}, nil)
	manager.SetObtain(daemon.m, ca.obtain)
	if err := daemon.m.Manage(ctxT(t), testCert(name)); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.m.RenewIfDue(ctxT(t), name); err != nil {
		t.Fatal(err)
	}
	announcements(daemon)

	clock.Advance(day)
	ds := &deadStore{Memory: mem, certs: &store.Certs{Store: mem}, atSwitch: true}
	killed := newHarness(t, ds, clock, &fakeCA{clock: clock, life: 90 * day}, func(c *manager.Config) { c.RescueDir = t.TempDir() })
	manager.SetObtain(killed.m, ca.obtain)
	if err := killed.m.Manage(ctxT(t), testCert(name)); err != nil {
		t.Fatal(err)
	}
	_ = killed.m.Renew(ctxT(t), name)
	if !ds.dead.Load() {
		t.Fatal("the process was not killed")
	}

	before := ca.orders()
	if err := daemon.m.Renew(ctxT(t), name); err != nil {
		t.Fatal(err)
	}
	if evs := announcements(daemon); len(evs) != 1 || evs[0].Type != manager.EventRenewed {
		t.Errorf("the daemon's events: %+v, want one renewed, for the certificate the killed process stored", evs)
	}
	if n := ca.orders() - before; n != 0 {
		t.Errorf("%d orders placed, want none", n)
	}
	if st, _ := daemon.m.StatusOf(name); st.Serial != "2" || st.PendingOrder != "" {
		t.Errorf("the daemon holds serial %q, pending order %q; want 2 and none", st.Serial, st.PendingOrder)
	}
	if err := daemon.m.Renew(ctxT(t), name); err != nil {
		t.Fatal(err)
	}
	if evs := announcements(daemon); len(evs) != 1 {
		t.Errorf("a forced renewal after: %+v, want one renewal, its own", evs)
	}
}

// The daemon restarting after a renewal killed at the switch announces
// the certificate live at once, from Run, without ordering.
func TestKilledBeforeHooksAnnouncedByRun(t *testing.T) {
	const name = "a.example.com"
	clock := managertest.NewFakeClock(t0)
	mem := store.NewMemory()
	ca := &countingCA{clock: clock}
	first := newHarness(t, mem, clock, &fakeCA{clock: clock, life: 90 * day}, nil)
	manager.SetObtain(first.m, ca.obtain)
	if err := first.m.Manage(ctxT(t), testCert(name)); err != nil {
		t.Fatal(err)
	}
	if _, err := first.m.RenewIfDue(ctxT(t), name); err != nil {
		t.Fatal(err)
	}
	clock.Advance(day)
	ds := &deadStore{Memory: mem, certs: &store.Certs{Store: mem}, atSwitch: true}
	killed := newHarness(t, ds, clock, &fakeCA{clock: clock, life: 90 * day}, func(c *manager.Config) { c.RescueDir = t.TempDir() })
	manager.SetObtain(killed.m, ca.obtain)
	if err := killed.m.Manage(ctxT(t), testCert(name)); err != nil {
		t.Fatal(err)
	}
	_ = killed.m.Renew(ctxT(t), name)
	if !ds.dead.Load() {
		t.Fatal("the process was not killed")
	}

	before := ca.orders()
	daemon := newHarness(t, mem, clock, &fakeCA{clock: clock, life: 90 * day}, nil)
	manager.SetObtain(daemon.m, ca.obtain)
	if err := daemon.m.Manage(ctxT(t), testCert(name)); err != nil {
		t.Fatal(err)
	}
	daemon.run()
	ev := daemon.next(manager.EventRenewed)
	if err := daemon.m.Ready(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if st, _ := daemon.m.StatusOf(name); st.Serial != "2" || !ev.NotAfter.Equal(st.NotAfter) {
		t.Errorf("renewed event for the certificate not after %v; the daemon holds serial %q, not after %v", ev.NotAfter, st.Serial, st.NotAfter)
	}
	if n := ca.orders() - before; n != 0 {
		t.Errorf("%d orders placed, want none", n)
	}
}
