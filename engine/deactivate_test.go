package engine_test

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
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

// In the shared layout (txacme's client.key, stored without its URL) a
// deactivated account is recorded by its key: the store says it is
// deactivated, it is never used again, and the next Account registers a
// new one (a new client.key), as in the directory layout.
func TestDeactivatedAccountReplacedShared(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	ca := e.pebble.DirectoryURL
	d, err := store.NewDir(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	shared := func() *engine.Engine {
		eng, err := engine.New(engine.Config{Store: d, Layout: store.LayoutShared, Manager: manager.Config{RescueDir: e.rescue}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		return eng
	}
	eng := shared()
	acct, err := eng.Account(ctx, ca, e.root, agree)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.DeactivateAccount(ctx, ca, e.root, agree); err != nil {
		t.Fatal(err)
	}
	// A new process, which knows the account only by client.key.
	eng = shared()
	infos, err := eng.Accounts(ctx, "")
	if err != nil || len(infos) != 1 || !infos[0].Deactivated {
		t.Fatalf("Accounts after deactivation = %+v, %v; want it deactivated", infos, err)
	}
	if _, err := eng.StoredAccount(ctx, ca, e.root, agree); !errors.Is(err, engine.ErrAccountDeactivated) {
		t.Errorf("StoredAccount of a deactivated account: %v", err)
	}
	got, err := eng.Account(ctx, ca, e.root, agree)
	if err != nil || got.URL == acct.URL || got.URL == "" {
		t.Fatalf("Account after deactivation = %+v, %v; want a new account", got, err)
	}
	if infos, _ := shared().Accounts(ctx, ""); len(infos) != 1 || infos[0].Deactivated {
		t.Errorf("Accounts after the new registration = %+v", infos)
	}
	if _, err := shared().Obtain(ctx, engine.Request{Lineage: e.lineage("deact-shared.example.test"), Account: agree}); err != nil {
		t.Errorf("Obtain with the new account: %v", err)
	}
}
