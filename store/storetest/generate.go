package storetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// GeneratedCA is the directory URL of the certificates that Generate
// stores. No server answers it.
const GeneratedCA = "https://ca.example.test/directory"

// GeneratedName returns the name of the i-th certificate (from 0) that
// Generate stores: "host-<i>.example.com".
func GeneratedName(i int) string { return fmt.Sprintf("host-%d.example.com", i) }

// GeneratedValidity is the lifetime of the certificates Generate makes.
const GeneratedValidity = 90 * 24 * time.Hour

// Generate stores certificates from..from+n-1 in c, as a CA would have issued them: a
// local CA made in memory (a root and an intermediate, P-256) signs a
// leaf for GeneratedName(i) with a key of its own, valid from now for
// GeneratedValidity; each is saved with c.SaveCertificate under
// GeneratedCA with its chain (leaf, intermediate), so that the store's
// layout, versions and index are those of real saves. It saves from
// several goroutines, since a durable save mostly waits on the disk.
func Generate(ctx context.Context, c *store.Certs, from, n int) error {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now().Truncate(time.Second)
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "certkeeper generated root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return err
	}
	root, _ := x509.ParseCertificate(rootDER)
	intKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	intTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "certkeeper generated intermediate"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	intDER, err := x509.CreateCertificate(rand.Reader, intTmpl, root, intKey.Public(), rootKey)
	if err != nil {
		return err
	}
	inter, _ := x509.ParseCertificate(intDER)

	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range max(32, 8*runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				i += from
				if err := generateOne(ctx, c, i, now, inter, intKey); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func generateOne(ctx context.Context, c *store.Certs, i int, now time.Time, inter *x509.Certificate, intKey *ecdsa.PrivateKey) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	name := GeneratedName(i)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: now, NotAfter: now.Add(GeneratedValidity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, inter, key.Public(), intKey)
	if err != nil {
		return err
	}
	keyPEM, err := keys.MarshalPEM(key)
	if err != nil {
		return err
	}
	return c.SaveCertificate(ctx, store.CertRecord{
		Name: name, Identifiers: []string{name}, CA: GeneratedCA, ObtainedAt: now,
		KeyPEM: keyPEM, ChainPEM: keys.EncodeCertificates(der, inter.Raw),
	})
}

// cacheFormat changes whenever what Generate writes, or the store's
// layout, changes, so that CachedDir does not hand out an old store.
const cacheFormat = "v1"

// cacheMaxAge is how old a cached store may be: its certificates are due
// for renewal after two thirds of GeneratedValidity.
const cacheMaxAge = 20 * 24 * time.Hour

// CachedDir returns the root of a directory store (store.NewDir) that
// holds n certificates made by Generate, for benchmarks: made once in
// os.UserCacheDir()/certkeeper/bench/dir-<n>-<format> (about 40 KB of
// disk per certificate) and made again when it is older than 20 days.
// Callers must not write to it. The certificates are saved by Generate
// into a store.Memory (a durable save to disk takes milliseconds: hours
// for 100,000 on a loaded machine), 5,000 at a time, and each of its keys
// is then written to the same path in the directory, without sync, the
// index shards appended to: the layout of a store that keeps pointers
// ("current") rather than links (see store.LayoutStandard), which Dir
// reads as its own.
func CachedDir(tb testing.TB, n int) string {
	tb.Helper()
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "certkeeper", "bench", fmt.Sprintf("dir-%d-%s", n, cacheFormat))
	done := filepath.Join(dir, "generated")
	if fi, err := os.Stat(done); err == nil && time.Since(fi.ModTime()) < cacheMaxAge {
		root := filepath.Join(dir, "store")
		// A store cached before the index recorded lineages and
		// schedules: it has none of either, so its index is whole.
		full := filepath.Join(root, "certificates", "_index", "full")
		if _, err := os.Stat(full); errors.Is(err, fs.ErrNotExist) {
			if err := os.WriteFile(full, []byte("certkeeper-index 1\n"), 0o600); err != nil {
				tb.Fatal(err)
			}
		}
		return root
	}
	if err := os.RemoveAll(dir); err != nil {
		tb.Fatal(err)
	}
	root := filepath.Join(dir, "store")
	if err := os.MkdirAll(root, 0o700); err != nil {
		tb.Fatal(err)
	}
	d, err := store.NewDir(root)
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	tb.Logf("generating %d certificates in %s (once)", n, root)
	const batch = 5000
	for from := 0; from < n; from += batch {
		if err := generateBatch(root, from, min(batch, n-from)); err != nil {
			tb.Fatal(err)
		}
	}
	// Every save appended its index record: the index is whole. Say so
	// (certificates/_index/complete, see store.LayoutStandard), or the
	// first start would rebuild it by reading every certificate.
	// Generate stores no lineage record and no renewal state: the index
	// records all there is of both (certificates/_index/full).
	for _, k := range []string{"certificates/_index/complete", "certificates/_index/full"} {
		if err := d.Put(context.Background(), k, []byte("certkeeper-index 1\n")); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Logf("generated %d certificates in %v", n, time.Since(start))
	if err := os.WriteFile(done, []byte(time.Now().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return root
}

// generateBatch generates certificates from..from+n-1 into a Memory store
// and copies its keys under root.
func generateBatch(root string, from, n int) error {
	ctx := context.Background()
	mem := store.NewMemory()
	if err := Generate(ctx, &store.Certs{Store: mem}, from, n); err != nil {
		return err
	}
	keys, err := mem.List(ctx, "")
	if err != nil {
		return err
	}
	for _, k := range keys {
		v, err := mem.Get(ctx, k)
		if err != nil {
			return err
		}
		p := filepath.Join(root, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if strings.HasPrefix(k, "certificates/_index/") {
			flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		f, err := os.OpenFile(p, flag, 0o600)
		if err != nil {
			return err
		}
		_, err = f.Write(v)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
