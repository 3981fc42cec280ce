package manager_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
)

// An order in flight that another process's attempt noted in the stored
// state survives a save of this Manager made outside its attempts (here:
// renewal information the CA offers, fetched by DueAt). Overwritten, the
// order was lost to the next attempt, and with it what the CA issued for
// it had that process died.
func TestSaveKeepsAnotherProcessOrder(t *testing.T) {
	const name = "a.example.com"
	ctx := ctxT(t)
	clock, ds := dirStore(t)
	h := newHarness(t, ds, clock, &fakeCA{clock: clock, life: 90 * day}, nil)
	if err := h.m.Manage(ctx, testCert(name)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.RenewIfDue(ctx, name); err != nil {
		t.Fatal(err)
	}

	// The other process's attempt notes its order.
	certs := &store.Certs{Store: ds}
	const order = "https://ca.example.test/order/other"
	noteInState(t, certs, name, map[string]any{"pending_order": order, "pending_key": "the other process's key"})

	// This Manager saves outside an attempt: the CA offers a window, and
	// the next look at the schedule fetches it.
	h.ca.offerWindow(50*day, 55*day)
	clock.Advance(manager.DefaultCheckInterval + time.Hour)
	if _, err := h.m.DueAt(ctx, name); err != nil {
		t.Fatal(err)
	}
	raw, err := certs.LoadState(ctx, testCA, name)
	if err != nil {
		t.Fatal(err)
	}
	var after struct {
		PendingOrder string    `json:"pending_order"`
		PendingKey   string    `json:"pending_key"`
		RenewAt      time.Time `json:"ari_renew_at"`
	}
	if err := json.Unmarshal(raw, &after); err != nil {
		t.Fatal(err)
	}
	if after.RenewAt.IsZero() {
		t.Fatalf("the renewal information was not saved: %s", raw)
	}
	if after.PendingOrder != order || after.PendingKey != "the other process's key" {
		t.Errorf("after this Manager's save: pending order %q, key %q; want the other process's %q kept", after.PendingOrder, after.PendingKey, order)
	}
}
