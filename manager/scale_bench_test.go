package manager

import (
	"context"
	"crypto/tls"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/internal/cputime"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/storetest"
)

// scaleCerts are the Certificates of the n certificates of
// storetest.CachedDir.
func scaleCerts(n int) []Spec {
	is := &issue.Issuer{Client: &acme.Client{DirectoryURL: storetest.GeneratedCA}}
	out := make([]Spec, n)
	for i := range out {
		out[i] = Spec{Identifiers: []acme.Identifier{acme.DNSIdentifier(storetest.GeneratedName(i))}, Issuer: is}
	}
	return out
}

// scaleCacheSize is the CacheSize of the scale benchmarks.
const scaleCacheSize = 10_000

// BenchmarkStartIndexed is New and Manage of N certificates that a
// directory store holds (storetest.CachedDir: real keys and chains,
// generated once and cached), with Config.CacheSize set so that the
// Manager starts from the store's index, until the manager serves the
// last one (Load). B/cert is the heap the Manager keeps per certificate
// that no handshake asked for.
func BenchmarkStartIndexed(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			root := storetest.CachedDir(b, n)
			certs := scaleCerts(n)
			var perCert float64
			var cpu time.Duration
			for b.Loop() {
				var before, after runtime.MemStats
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&before)
				b.StartTimer()
				cpu0 := cputime.Used()
				st, err := store.NewDir(root)
				if err != nil {
					b.Fatal(err)
				}
				m, err := New(Config{Store: st, CacheSize: scaleCacheSize})
				if err != nil {
					b.Fatal(err)
				}
				if err := m.Manage(context.Background(), certs...); err != nil {
					b.Fatal(err)
				}
				cpu += cputime.Used() - cpu0
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&after)
				perCert = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
				if c, err := m.Load(context.Background(), storetest.GeneratedName(n-1)); err != nil || c == nil {
					b.Fatalf("not served: %v", err)
				}
				runtime.KeepAlive(m)
				b.StartTimer()
			}
			b.ReportMetric(perCert, "B/cert")
			b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
}

// scaleManager starts a Manager on the cached store of n certificates.
func scaleManager(b *testing.B, n int) *Manager {
	st, err := store.NewDir(storetest.CachedDir(b, n))
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(Config{Store: st, CacheSize: scaleCacheSize})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Manage(context.Background(), scaleCerts(n)...); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkGetCertificateCached is the handshake lookup (Lookup, what
// autotls calls first) of a name whose certificate is in the cache,
// among 100,000 managed.
func BenchmarkGetCertificateCached(b *testing.B) {
	const n = 100_000
	m := scaleManager(b, n)
	names := make([]string, 1000)
	for i := range names {
		names[i] = storetest.GeneratedName(i * (n / len(names)))
		if c, err := m.Load(context.Background(), names[i]); err != nil || c == nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	var c *tls.Certificate
	for b.Loop() {
		c = m.Lookup(names[i])
		i++
		if i == len(names) {
			i = 0
		}
	}
	if c == nil {
		b.Fatal("not cached")
	}
}

// BenchmarkGetCertificateUncached is a handshake for a name managed but
// not yet loaded, among 100,000: read and parsed from the directory
// store (Load). The cache (CacheSize 10,000) evicts as it goes; every
// name asked is one not asked before.
func BenchmarkGetCertificateUncached(b *testing.B) {
	const n = 100_000
	m := scaleManager(b, n)
	i := 0
	var cpu time.Duration
	cpu0 := cputime.Used()
	defer func() {
		b.ReportMetric(float64(cpu+cputime.Used()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	}()
	for b.Loop() {
		if i == n {
			b.StopTimer()
			cpu += cputime.Used() - cpu0
			m = scaleManager(b, n)
			i = 0
			cpu0 = cputime.Used()
			b.StartTimer()
		}
		c, err := m.Load(context.Background(), storetest.GeneratedName(i))
		if err != nil || c == nil {
			b.Fatal(err)
		}
		i++
	}
}
