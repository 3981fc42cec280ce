package manager

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// BenchmarkLookup100k looks names up among 100,000 managed names: exact
// names, wildcard matches and misses, some in upper case.
func BenchmarkLookup100k(b *testing.B) {
	m, err := New(Config{Store: store.NewMemory()})
	if err != nil {
		b.Fatal(err)
	}
	leaf := &x509.Certificate{NotAfter: time.Now().Add(time.Hour)}
	cert := &tls.Certificate{Leaf: leaf}
	const n = 100_000
	for i := range n {
		name := fmt.Sprintf("host-%d.example%d.com", i, i%100)
		if i%10 == 0 {
			name = fmt.Sprintf("*.wild%d.example.com", i)
		}
		m.entries[name] = &entry{ids: []string{name}, held: &held{tls: cert, leaf: leaf, covers: true}}
	}
	m.rebuildLocked()
	queries := []string{
		"host-12345.example45.com",   // exact
		"HOST-99999.Example99.COM.",  // exact, upper case, trailing dot
		"a.wild500.example.com",      // wildcard
		"A.WILD90000.EXAMPLE.COM",    // wildcard, upper case
		"missing.example.com",        // miss
		"deep.a.wild500.example.com", // miss: two labels under the wildcard
	}
	for i, q := range queries {
		if got := m.Lookup(q) != nil; got != (i < 4) {
			b.Fatalf("Lookup(%q) found=%v", q, got)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		m.Lookup(queries[i%len(queries)])
		i++
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	m, _ := New(Config{Store: store.NewMemory()})
	leaf := &x509.Certificate{NotAfter: time.Now().Add(time.Hour)}
	m.entries["x"] = &entry{ids: []string{"a.example.com", "*.example.org"}, held: &held{tls: &tls.Certificate{Leaf: leaf}, leaf: leaf, covers: true}}
	m.rebuildLocked()
	for _, q := range []string{"a.example.com", "A.EXAMPLE.COM.", "b.example.org", "B.Example.Org", "nope.test"} {
		if n := testing.AllocsPerRun(100, func() { m.Lookup(q) }); n != 0 {
			t.Errorf("Lookup(%q): %v allocations", q, n)
		}
	}
}

const benchCA = "https://ca.bench/directory"

var (
	benchOnce  sync.Once
	benchRes   []store.CertRecord
	benchCerts []Spec
)

// benchRecords makes 10,000 certificates (one key, 10,000 leaves) once.
func benchRecords(b *testing.B) ([]store.CertRecord, []Spec) {
	benchOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		keyPEM, err := keys.MarshalPEM(key)
		if err != nil {
			b.Fatal(err)
		}
		is := &issue.Issuer{Client: &acme.Client{DirectoryURL: benchCA}}
		now := time.Now()
		for i := range 10_000 {
			name := fmt.Sprintf("host-%d.example.com", i)
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: name},
				DNSNames: []string{name}, NotBefore: now, NotAfter: now.Add(90 * 24 * time.Hour),
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
			if err != nil {
				b.Fatal(err)
			}
			benchRes = append(benchRes, store.CertRecord{
				Name: name, Identifiers: []string{name}, CA: benchCA, ObtainedAt: now,
				KeyPEM: keyPEM, ChainPEM: keys.EncodeCertificates(der),
			})
			benchCerts = append(benchCerts, Spec{Identifiers: []acme.Identifier{acme.DNSIdentifier(name)}, Issuer: is})
		}
	})
	return benchRes, benchCerts
}

// BenchmarkStart10000 is New and Manage of 10,000 certificates that the
// store holds, until Lookup serves them all; it reports the heap kept per
// certificate.
func BenchmarkStart10000(b *testing.B) {
	res, certs := benchRecords(b)
	b.Run("Memory", func(b *testing.B) {
		st := store.NewMemory()
		c := store.Certs{Store: st}
		for _, r := range res {
			if err := c.SaveCertificate(context.Background(), r); err != nil {
				b.Fatal(err)
			}
		}
		benchStart(b, st, certs)
	})
	b.Run("Dir", func(b *testing.B) {
		root := b.TempDir()
		caDir, _ := store.CADirName(benchCA)
		// Written directly in the standard layout: Dir's durable writes
		// would make the set-up take minutes.
		for _, r := range res {
			d := filepath.Join(root, "certificates", caDir, r.Name)
			if err := os.MkdirAll(d, 0o700); err != nil {
				b.Fatal(err)
			}
			os.WriteFile(filepath.Join(d, "key.pem"), r.KeyPEM, 0o600)
			os.WriteFile(filepath.Join(d, "cert.pem"), r.ChainPEM, 0o600)
		}
		st, err := store.NewDir(root)
		if err != nil {
			b.Fatal(err)
		}
		benchStart(b, st, certs)
	})
}

func benchStart(b *testing.B, st store.Store, certs []Spec) {
	var perCert float64
	for b.Loop() {
		var before, after runtime.MemStats
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		m, err := New(Config{Store: st})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Manage(context.Background(), certs...); err != nil {
			b.Fatal(err)
		}
		if m.Lookup(certs[len(certs)-1].Identifiers[0].Value) == nil {
			b.Fatal("not served")
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		perCert = float64(after.HeapAlloc-before.HeapAlloc) / float64(len(certs))
		runtime.KeepAlive(m)
		b.StartTimer()
	}
	b.ReportMetric(perCert, "B/cert")
}
