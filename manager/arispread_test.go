package manager

import (
	"context"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/storetest"
)

// queuedChecks returns when each certificate's next check is.
func queuedChecks(m *Manager) []time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]time.Time, 0, len(m.queue))
	for _, e := range m.queue {
		out = append(out, e.next)
	}
	return out
}

// TestARISpread: the first fetches of renewal information of a store
// without saved schedules are spread over ARISpread's window rather than
// all due at start, unless there are few certificates or the spread is
// turned off; and the spread never puts a check after the certificate's
// renewal.
func TestARISpread(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	const n = 1000
	if err := storetest.Generate(ctx, &store.Certs{Store: st}, 0, n); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		n         int
		cfg       Config
		window    time.Duration // 0: every check at start
		cacheSize int
	}{
		{"default, 1000 certificates", n, Config{}, 90 * time.Second, 0},
		{"default, 1000 certificates, cache", n, Config{CacheSize: 100}, 90 * time.Second, 100},
		{"default, 100 certificates", 100, Config{}, 0, 0},
		{"explicit", n, Config{ARISpread: time.Hour}, time.Hour, 0},
		{"capped by CheckInterval", n, Config{CheckInterval: time.Minute}, 30 * time.Second, 0},
		{"off", n, Config{ARISpread: -1}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Store = st
			m, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			start := m.ariFrom
			if err := m.Manage(ctx, scaleCerts(tc.n)...); err != nil {
				t.Fatal(err)
			}
			if m.cacheSize != tc.cacheSize {
				t.Errorf("cache size %d, want %d", m.cacheSize, tc.cacheSize)
			}
			nexts := queuedChecks(m)
			if len(nexts) != tc.n {
				t.Fatalf("%d queued, want %d", len(nexts), tc.n)
			}
			managed := time.Now()
			early := 0
			for _, next := range nexts {
				if next.Before(start) || next.After(managed.Add(tc.window)) {
					t.Fatalf("a check at %v, outside [%v, %v]", next, start, managed.Add(tc.window))
				}
				if next.Before(start.Add(tc.window / 10)) {
					early++
				}
			}
			if tc.window == 0 {
				if early != 0 { // window/10 is 0: nothing is before start
					t.Fatalf("early %d", early)
				}
				for _, next := range nexts {
					if next.After(managed) {
						t.Fatalf("a check at %v, after the start %v, without a spread", next, managed)
					}
				}
				return
			}
			// About a tenth in the first tenth of the window (those
			// whose moment passed while Manage ran, too); never all.
			if early > tc.n/4 {
				t.Errorf("%d of %d checks in the first tenth of the window", early, tc.n)
			}
			m.mu.Lock()
			for _, e := range m.entries {
				if e.next.After(e.due) {
					t.Errorf("%s: check at %v, after its renewal at %v", e.spec.Name, e.next, e.due)
				}
			}
			m.mu.Unlock()
		})
	}
}

// TestCacheSizeDefault: with CacheSize zero, a Manager that manages more
// than DefaultCacheSize certificates (here 100, so that the test makes
// few) starts from the index and bounds its cache, as if CacheSize were
// DefaultCacheSize; up to it, every certificate is parsed as before; a
// negative CacheSize never bounds it.
func TestCacheSizeDefault(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	const auto = 100
	if err := storetest.Generate(ctx, &store.Certs{Store: st}, 0, auto+1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n, cacheSize, wantCache, wantParsed int
	}{
		{auto, 0, 0, auto},
		{auto + 1, 0, auto, 0},
		{auto + 1, -1, 0, auto + 1},
	} {
		m, err := New(Config{Store: st, CacheSize: tc.cacheSize})
		if err != nil {
			t.Fatal(err)
		}
		m.autoCache = auto
		if err := m.Manage(ctx, scaleCerts(tc.n)...); err != nil {
			t.Fatal(err)
		}
		if m.cacheSize != tc.wantCache || parsedCount(m) != tc.wantParsed {
			t.Errorf("%d certificates, CacheSize %d: cache size %d, %d parsed; want %d, %d",
				tc.n, tc.cacheSize, m.cacheSize, parsedCount(m), tc.wantCache, tc.wantParsed)
		}
		name := storetest.GeneratedName(tc.n - 1)
		if c, err := m.Load(ctx, name); err != nil || c == nil || c.Leaf.VerifyHostname(name) != nil {
			t.Fatalf("Load(%s) = %v, %v", name, c, err)
		}
	}
}
