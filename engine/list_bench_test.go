package engine_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/internal/cputime"
	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/storetest"
)

// reportCPU reports the CPU time per operation since start (cpu-ms/op).
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cputime.Used()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// noIndexDir hides Dir's Append, so that the store keeps no index and
// List reads every certificate (what List did before the index).
type noIndexDir struct{ store.Store }

func benchEngine(b *testing.B, n int, indexed bool) *engine.Engine {
	root := storetest.CachedDir(b, n)
	d, err := store.OpenDir(root)
	if err != nil {
		b.Fatal(err)
	}
	var st store.Store = d
	if !indexed {
		st = noIndexDir{d}
	}
	eng, err := engine.New(engine.Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close() })
	return eng
}

// BenchmarkList is engine.List of every certificate of a directory store
// of 100,000 (storetest.CachedDir), from the store's index.
func BenchmarkList(b *testing.B) {
	eng := benchEngine(b, 100_000, true)
	defer reportCPU(b, cputime.Used())
	for b.Loop() {
		entries, err := eng.List(context.Background(), engine.ListOptions{})
		if err != nil || len(entries) != 100_000 {
			b.Fatalf("List: %d entries, %v", len(entries), err)
		}
	}
}

// BenchmarkListName is engine.List of one name (list NAME) in a store of
// 100,000 certificates.
func BenchmarkListName(b *testing.B) {
	eng := benchEngine(b, 100_000, true)
	name := storetest.GeneratedName(54321)
	defer reportCPU(b, cputime.Used())
	for b.Loop() {
		entries, err := eng.List(context.Background(), engine.ListOptions{Names: []string{name}})
		if err != nil || len(entries) != 1 || entries[0].Name != name {
			b.Fatalf("List: %v, %v", entries, err)
		}
	}
}

// BenchmarkListRead is List of every certificate of a store that keeps
// no index (of 10,000 and of 100,000): every certificate is read and
// parsed, as List did before the index.
func BenchmarkListRead(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			eng := benchEngine(b, n, false)
			defer reportCPU(b, cputime.Used())
			for b.Loop() {
				entries, err := eng.List(context.Background(), engine.ListOptions{})
				if err != nil || len(entries) != n {
					b.Fatalf("List: %d entries, %v", len(entries), err)
				}
			}
		})
	}
}

// BenchmarkListNameRead is List of one name in a store of 10,000 without
// an index.
func BenchmarkListNameRead(b *testing.B) {
	eng := benchEngine(b, 10_000, false)
	name := storetest.GeneratedName(4321)
	defer reportCPU(b, cputime.Used())
	for b.Loop() {
		entries, err := eng.List(context.Background(), engine.ListOptions{Names: []string{name}})
		if err != nil || len(entries) != 1 {
			b.Fatalf("List: %d entries, %v", len(entries), err)
		}
	}
}
