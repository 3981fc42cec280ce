package manager_test

import (
	"encoding/json"
	"testing"

	"github.com/certkeeper/certkeeper/store"
)

// A process that takes the certificate another one stored (a renew -force
// beside the daemon, the daemon having renewed it meanwhile) keeps the
// state that process wrote after it: not its own copy, read before the
// lock, which still named that process's order in flight and the
// certificate announced before, so that the next run announced the new
// certificate again (its hooks twice) and thought an order unfinished.
func TestTakenCertificateKeepsTheStoredState(t *testing.T) {
	const name = "a.example.com"
	ctx := ctxT(t)
	clock, ds := dirStore(t)
	certs := &store.Certs{Store: ds}
	daemon := newHarness(t, ds, clock, &fakeCA{clock: clock, life: 90 * day}, nil)
	if err := daemon.m.Manage(ctx, testCert(name)); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.m.RenewIfDue(ctx, name); err != nil {
		t.Fatal(err)
	}

	// The daemon's next attempt has noted its order when the other
	// process starts and reads the state.
	noteInState(t, certs, name, map[string]any{"pending_order": "https://ca.example.test/order/daemon"})
	cli := newHarness(t, ds, clock, &fakeCA{clock: clock, life: 90 * day}, nil)
	if err := cli.m.Manage(ctx, testCert(name)); err != nil {
		t.Fatal(err)
	}

	// The daemon ends its attempt: a new certificate, announced, no order
	// in flight.
	clock.Advance(day)
	if err := daemon.m.Renew(ctx, name); err != nil {
		t.Fatal(err)
	}
	want, ok := daemon.m.StatusOf(name)
	if !ok {
		t.Fatal("no status")
	}

	// The other process's forced renewal takes that certificate.
	if err := cli.m.Renew(ctx, name); err != nil {
		t.Fatal(err)
	}
	raw, err := certs.LoadState(ctx, testCA, name)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Serial       string `json:"serial"`
		PendingOrder string `json:"pending_order"`
		Announced    string `json:"announced"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Serial != want.Serial || got.PendingOrder != "" || got.Announced != want.Serial {
		t.Errorf("state after the take-over: serial %q, pending order %q, announced %q; want %s, none, %s (as the daemon left it)\n%s",
			got.Serial, got.PendingOrder, got.Announced, want.Serial, want.Serial, raw)
	}
	if evs := announcements(cli); len(evs) != 0 {
		t.Errorf("the process that took the certificate announced it: %+v", evs)
	}

	// A later run announces nothing again.
	next := newHarness(t, ds, clock, &fakeCA{clock: clock, life: 90 * day}, nil)
	if err := next.m.Manage(ctx, testCert(name)); err != nil {
		t.Fatal(err)
	}
	if _, err := next.m.RenewIfDue(ctx, name); err != nil {
		t.Fatal(err)
	}
	if evs := announcements(next); len(evs) != 0 {
		t.Errorf("a later run announced the certificate again (its hooks twice): %+v", evs)
	}
}
