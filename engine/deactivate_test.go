package engine_test

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/certkeeper/certkeeper/engine"
)

// A deactivated account is recorded as such: never used again, neither
// by this engine nor by the next process; the next Account registers a
// new one under the same ID, and an order then succeeds.
func TestDeactivatedAccountReplaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	ca := e.pebble.DirectoryURL
	eng := e.engine(nil)
	if _, err := eng.DeactivateAccount(ctx, ca, e.root, agree); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("DeactivateAccount of no account: %v, want fs.ErrNotExist (and nothing registered)", err)
	}
	acct, err := eng.Account(ctx, ca, e.root, agree)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.DeactivateAccount(ctx, ca, e.root, agree); err != nil {
		t.Fatal(err)
	}
	infos, err := eng.Accounts(ctx, "")
	if err != nil || len(infos) != 1 || !infos[0].Deactivated || infos[0].URL != acct.URL {
		t.Fatalf("Accounts after deactivation = %+v, %v", infos, err)
	}
	if _, err := eng.StoredAccount(ctx, ca, e.root, agree); !errors.Is(err, engine.ErrAccountDeactivated) {
		t.Errorf("StoredAccount of a deactivated account: %v", err)
	}
	got, err := eng.Account(ctx, ca, e.root, agree)
	if err != nil || got.URL == acct.URL || got.URL == "" {
		t.Fatalf("Account after deactivation = %+v, %v; want a new account", got, err)
	}
	infos, _ = eng.Accounts(ctx, "")
	if len(infos) != 1 || infos[0].Deactivated || infos[0].URL != got.URL {
		t.Errorf("Accounts after the new registration = %+v", infos)
	}
	// Another process uses the new one.
	if again, err := e.engine(nil).Account(ctx, ca, e.root, agree); err != nil || again.URL != got.URL {
		t.Errorf("a second engine: %+v, %v; want %s", again, err, got.URL)
	}
	if _, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: e.lineage("deact.example.test"), Account: agree}); err != nil {
		t.Errorf("Obtain with the new account: %v", err)
	}
}
