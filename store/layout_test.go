package store

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// lockRecorder is a Dir that records the names of the locks taken.
type lockRecorder struct {
	*Dir
	mu    sync.Mutex
	names []string
}

func (r *lockRecorder) Lock(ctx context.Context, name string) (func() error, error) {
	r.mu.Lock()
	r.names = append(r.names, name)
	r.mu.Unlock()
	return r.Dir.Lock(ctx, name)
}

func (r *lockRecorder) locks() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.names)
	slices.Sort(out)
	return slices.Compact(out)
}

// The keys and lock names of each layout, written out in full: a change
// to where anything is stored breaks every store already written (and
// every other program reading it), so it must fail here first.
func TestLayoutKeys(t *testing.T) {
	const ca = "https://ca.example.test/dir"
	tests := []struct {
		layout Layout
		keys   []string
		locks  []string
		// named are the keys and lock names Certs gives other packages:
		// StateKey, AccountDeactivatedKey, ObtainLock, LineageLock,
		// AccountLock, ListenLock, and Paths' Cert relative to the root.
		named []string
	}{{
		layout: LayoutStandard,
		keys: []string{
			"accounts/ca.example.test_dir/default/account.json",
			"accounts/ca.example.test_dir/default/account.key",
			"certificates/_index/0",
			"certificates/_index/1",
			"certificates/_index/2",
			"certificates/_index/3",
			"certificates/_index/4",
			"certificates/_index/5",
			"certificates/_index/6",
			"certificates/_index/7",
			"certificates/_index/8",
			"certificates/_index/9",
			"certificates/_index/a",
			"certificates/_index/b",
			"certificates/_index/c",
			"certificates/_index/complete",
			"certificates/_index/d",
			"certificates/_index/e",
			"certificates/_index/f",
			"certificates/_index/full",
			"certificates/ca.example.test_dir/_wildcard_.example.test/cert.pem",
			"certificates/ca.example.test_dir/_wildcard_.example.test/combined.pem",
			"certificates/ca.example.test_dir/_wildcard_.example.test/key.pem",
			"certificates/ca.example.test_dir/_wildcard_.example.test/lineage.json",
			"certificates/ca.example.test_dir/_wildcard_.example.test/meta.json",
			"certificates/ca.example.test_dir/_wildcard_.example.test/revoked/1.json",
			"certificates/ca.example.test_dir/_wildcard_.example.test/versions/1/cert.pem",
			"certificates/ca.example.test_dir/_wildcard_.example.test/versions/1/combined.pem",
			"certificates/ca.example.test_dir/_wildcard_.example.test/versions/1/key.pem",
			"certificates/ca.example.test_dir/_wildcard_.example.test/versions/1/meta.json",
			"certificates/ca.example.test_dir/_wildcard_.example.test/versions/2/cert.pem",
			"certificates/ca.example.test_dir/_wildcard_.example.test/versions/2/combined.pem",
			"certificates/ca.example.test_dir/_wildcard_.example.test/versions/2/key.pem",
			"certificates/ca.example.test_dir/_wildcard_.example.test/versions/2/meta.json",
			"manager/ca.example.test_dir/_wildcard_.example.test.json",
		},
		locks: []string{
			"certkeeper/accounts/ca.example.test_dir/default",
			"certkeeper/certificate/ca.example.test_dir/_wildcard_.example.test",
			"certkeeper/index",
			"certkeeper/migrate",
		},
		named: []string{
			"manager/ca.example.test_dir/_wildcard_.example.test.json",
			"accounts/ca.example.test_dir/default/deactivated",
			"obtain/ca.example.test_dir/_wildcard_.example.test",
			"lineage/ca.example.test_dir/_wildcard_.example.test",
			"account/ca.example.test_dir/default",
			"listen/127.0.0.1:80",
			"certificates/ca.example.test_dir/_wildcard_.example.test/cert.pem",
		},
	}, {
		layout: LayoutShared,
		keys: []string{
			"_wildcard_.example.test.pem",
			"certkeeper/lineage/_wildcard_.example.test.json",
			"certkeeper/manager/_wildcard_.example.test.json",
			"certkeeper/revoked/_wildcard_.example.test/1.json",
			"certkeeper/versions/_wildcard_.example.test/1.pem",
			"certkeeper/versions/_wildcard_.example.test/2.pem",
			"client.key",
		},
		locks: []string{
			"certkeeper/account/shared",
			"certkeeper/certificate/shared/_wildcard_.example.test",
			"certkeeper/migrate",
		},
		named: []string{
			"certkeeper/manager/_wildcard_.example.test.json",
			"certkeeper/accounts/deactivated",
			"obtain/ca.example.test_dir/_wildcard_.example.test",
			"lineage/ca.example.test_dir/_wildcard_.example.test",
			"account/ca.example.test_dir/default",
			"listen/127.0.0.1:80",
			"_wildcard_.example.test.pem",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.layout.String(), func(t *testing.T) {
			ctx := context.Background()
			d := &lockRecorder{Dir: newTestDir(t)}
			c := &Certs{Store: d, Layout: tt.layout}
			acctKey, _ := testCert(t, "acct.example.test")
			if err := c.SaveAccount(ctx, ca, "", AccountRecord{URL: "https://ca.example.test/acct/1", KeyPEM: acctKey}); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				key, chain := testCert(t, "*.example.test")
				rec := CertRecord{Name: "*.example.test", Identifiers: []string{"*.example.test"}, CA: ca, KeyPEM: key, ChainPEM: chain}
				if err := c.SaveCertificate(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}
			l := Lineage{Name: "*.example.test", CA: ca, Identifiers: []string{"*.example.test"}, Account: "default"}
			if err := c.SaveLineage(ctx, l); err != nil {
				t.Fatal(err)
			}
			if err := c.MarkRevoked(ctx, ca, "*.example.test", "01", time.Unix(1e9, 0), 4); err != nil {
				t.Fatal(err)
			}
			if err := c.SaveState(ctx, ca, "*.example.test", []byte("{}\n")); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Index(ctx); err != nil && !errors.Is(err, ErrNoIndex) {
				t.Fatal(err)
			}
			keys, err := d.List(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keys, tt.keys) {
				t.Errorf("keys:\n%q\nwant\n%q", keys, tt.keys)
			}
			if got := d.locks(); !slices.Equal(got, tt.locks) {
				t.Errorf("locks:\n%q\nwant\n%q", got, tt.locks)
			}

			var named []string
			add := func(s string, err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				named = append(named, s)
			}
			add(c.StateKey(ca, "*.example.test"))
			add(c.AccountDeactivatedKey(ca, ""))
			add(c.ObtainLock(ca, "*.example.test"))
			add(c.LineageLock(ca, "*.example.test"))
			add(c.AccountLock(ca, ""))
			add(c.ListenLock("127.0.0.1:80"), nil)
			p, err := c.Paths(ca, "*.example.test")
			if err != nil {
				t.Fatal(err)
			}
			add(filepath.Rel(d.Root(), p.Cert))
			for i := range named {
				named[i] = filepath.ToSlash(named[i])
			}
			if !slices.Equal(named, tt.named) {
				t.Errorf("named keys and locks:\n%q\nwant\n%q", named, tt.named)
			}
			if tt.layout == LayoutStandard {
				// The live link, which List does not report (it names a
				// directory).
				if got, err := d.Readlink(ctx, "certificates/ca.example.test_dir/_wildcard_.example.test/live"); err != nil || got != "versions/2" {
					t.Errorf("live = %q, %v; want versions/2", got, err)
				}
			}
		})
	}
}
