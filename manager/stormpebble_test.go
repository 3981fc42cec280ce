package manager_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acmetest"
)

// The storm's Pebble is acmetest.PebbleVersion with one lock-order deadlock
// removed. In db/memorystore.go, MemoryStore.FindValidAuthorization (called
// by every newOrder) holds the store's read lock while it takes each
// authorization's read lock; the authorization handler of wfe/wfe.go holds
// an authorization's write lock while it looks the account up in the store
// (a store read lock). Once any writer (AddOrder, AddAuthorization...)
// waits for the store's write lock, sync.RWMutex lets no new reader in, and
// the three wait on each other for ever: Pebble stops answering, under the
// storm's load and under the plainest client's alike. The patched
// FindValidAuthorization copies the authorization pointers under the store's
// read lock and releases it before it takes any authorization's lock; what
// it reads of each authorization, under that authorization's lock, is
// unchanged.
const (
	// stormPebbleFunc is the signature of the function patched.
	stormPebbleFunc = "func (m *MemoryStore) FindValidAuthorization(accountID string, identifier acme.Identifier) *core.Authorization {\n"
	// stormPebbleOld is how its body starts in PebbleVersion.
	stormPebbleOld = "\tm.RLock()\n" +
		"\tdefer m.RUnlock()\n" +
		"\tfor _, authz := range m.authorizationsByID {\n"
	// stormPebbleNew replaces it: the loop runs on a snapshot.
	stormPebbleNew = "\tm.RLock()\n" +
		"\tauthzs := make([]*core.Authorization, 0, len(m.authorizationsByID))\n" +
		"\tfor _, authz := range m.authorizationsByID {\n" +
		"\t\tauthzs = append(authzs, authz)\n" +
		"\t}\n" +
		"\tm.RUnlock()\n" +
		"\tfor _, authz := range authzs {\n"
	// stormPebbleName names the patched Pebble in acmetest's cache:
	// acmetest.PebbleCacheDir()/v2.10.1-findvalidauthorization-unlocked.
	stormPebbleName = "findvalidauthorization-unlocked"
)

// stormPebblePatch is the patch of db/memorystore.go: acmetest's build
// fails, and with it the benchmark, when the text to replace is not in
// PebbleVersion's file exactly once.
var stormPebblePatch = acmetest.PebblePatch{
	File: "db/memorystore.go",
	Old:  stormPebbleFunc + stormPebbleOld,
	New:  stormPebbleFunc + stormPebbleNew,
}

// stormPebble returns the path of the patched Pebble from acmetest's cache
// (acmetest.BuildPatchedPebble), building it the first time on a machine.
// Errors say why there is none; no caller falls back to the stock Pebble.
func stormPebble(ctx context.Context) (string, error) {
	bin, err := acmetest.BuildPatchedPebble(ctx, acmetest.PebbleCacheDir(), stormPebbleName, stormPebblePatch)
	if errors.Is(err, acmetest.ErrPatchMismatch) {
		err = fmt.Errorf("storm pebble: %w: update stormPebblePatch in manager/stormpebble_test.go", err)
	}
	return bin, err
}

// BenchmarkPebbleLockOrder shows the deadlock that stormPebble removes:
// the ceiling client of BenchmarkRenewalStorm issues -storm.n certificates
// at concurrency -storm.c (0: 64) from the stock Pebble, then from the
// patched one, each new. The stock one stopping (no certificate for a
// minute) is logged, not an error; the patched one stopping fails the run.
//
//	go test -run '^$' -bench PebbleLockOrder -benchtime 1x ./manager/ -storm.n 2000
func BenchmarkPebbleLockOrder(b *testing.B) {
	ctx := context.Background()
	conc := *stormConc
	if conc == 0 {
		conc = 64
	}
	for _, v := range []struct {
		name  string
		build func(context.Context) (string, error)
	}{{"stock", acmetest.FindPebble}, {"patched", stormPebble}} {
		b.Run(v.name, func(b *testing.B) {
			bin, err := v.build(ctx)
			if err != nil {
				b.Fatal(err)
			}
			var stopped int
			for b.Loop() {
				ca := newStormCA(b, bin)
				rate, err := ceilingRun(ctx, ca.client, ca.acct, ca.sol, *stormN, conc, v.name)
				switch {
				case err == nil:
					b.Logf("%s pebble: %d certificates at concurrency %d: %.1f certificates/s", v.name, *stormN, conc, rate)
				case v.name == "stock":
					stopped++
					b.Logf("stock pebble stopped, as expected: %v", err)
				default:
					b.Fatalf("patched pebble: %v", err)
				}
			}
			b.ReportMetric(float64(stopped), "stopped")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// TestPatchStormPebble checks the patch: applied where the text is that of
// PebbleVersion, refused where it is missing or not alone.
func TestPatchStormPebble(t *testing.T) {
	orig := "package db\n\n" + stormPebbleFunc + stormPebbleOld +
		"\t\tauthz.RLock()\n\t\tauthz.RUnlock()\n\t}\n\treturn nil\n}\n"
	got, err := stormPebblePatch.Apply(orig)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "defer m.RUnlock()") || !strings.Contains(got, stormPebbleFunc+stormPebbleNew) {
		t.Errorf("patched:\n%s", got)
	}
	if !strings.HasSuffix(got, "\t\tauthz.RLock()\n\t\tauthz.RUnlock()\n\t}\n\treturn nil\n}\n") {
		t.Errorf("the rest of the function changed:\n%s", got)
	}
	for name, src := range map[string]string{
		"moved":  strings.Replace(orig, "defer m.RUnlock()", "defer func() { m.RUnlock() }()", 1),
		"twice":  orig + orig,
		"absent": "package db\n",
	} {
		if _, err := stormPebblePatch.Apply(src); !errors.Is(err, acmetest.ErrPatchMismatch) {
			t.Errorf("%s: Apply = %v, want ErrPatchMismatch", name, err)
		}
	}
}
