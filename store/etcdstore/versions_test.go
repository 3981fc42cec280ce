package etcdstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/etcdstore/etcdtest"
)

// testRecord is a certificate for name with its own key.
func testRecord(t testing.TB, name string, serial int64) store.CertRecord {
	t.Helper()
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{name}}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := keys.MarshalPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return store.CertRecord{Name: name, CA: "https://ca.test/dir", KeyPEM: keyPEM, ChainPEM: keys.EncodeCertificates(der)}
}

// pruneOnRead lets arm run (saves that prune the version being read)
// right after a reader's first read of a version's file.
type pruneOnRead struct {
	store.Store
	armed atomic.Bool
	arm   func()
}

func (s *pruneOnRead) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.Store.Get(ctx, key)
	if strings.Contains(key, "/versions/") && s.armed.CompareAndSwap(true, false) {
		s.arm()
	}
	return v, err
}

// TestCertsNoHalfVersion reads certificates from etcd (the "current"
// pointer layout) while they are renewed and old versions pruned: a reader
// never gets a chain without its key or with another version's key, even
// when the version it reads is pruned between two of its reads.
func TestCertsNoHalfVersion(t *testing.T) {
	c := etcdtest.New(t, 3)
	st := newStore(t, c, "versions", Options{})
	ctx := t.Context()
	const name = "a.example.test"
	writer := &store.Certs{Store: st, KeepVersions: 1}
	rs := make([]store.CertRecord, 4)
	for i := range rs {
		rs[i] = testRecord(t, name, int64(i+1))
	}
	if err := writer.SaveCertificate(ctx, rs[0]); err != nil {
		t.Fatal(err)
	}

	// Deterministic: two saves between the reader's first and next reads.
	p := &pruneOnRead{Store: st, arm: func() {
		for _, r := range rs[1:3] {
			if err := writer.SaveCertificate(ctx, r); err != nil {
				t.Error(err)
			}
		}
	}}
	p.armed.Store(true)
	res, err := (&store.Certs{Store: p}).LoadCertificate(ctx, rs[0].CA, name)
	if err != nil || len(res.KeyPEM) == 0 {
		t.Fatalf("LoadCertificate while its version is pruned: key %d bytes, %v", len(res.KeyPEM), err)
	}
	if _, err := tls.X509KeyPair(res.ChainPEM, res.KeyPEM); err != nil {
		t.Fatal(err)
	}

	// Concurrent: readers in a loop while the writer renews.
	done := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	reader := &store.Certs{Store: st}
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				res, err := reader.LoadCertificate(ctx, rs[0].CA, name)
				if err == nil {
					_, err = tls.X509KeyPair(res.ChainPEM, res.KeyPEM)
				}
				if err != nil {
					t.Errorf("read %d: %v", reads.Load(), err)
					return
				}
				reads.Add(1)
			}
		})
	}
	const renewals = 60
	for i := range renewals {
		if err := writer.SaveCertificate(ctx, rs[i%len(rs)]); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	t.Logf("%d reads during %d renewals", reads.Load(), renewals)
}
