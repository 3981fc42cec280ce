package etcdstore_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/etcdstore"
	"github.com/certkeeper/certkeeper/store/etcdstore/etcdtest"
)

// BenchmarkCluster obtains N certificates (CLUSTER_BENCH_N, default 100)
// with 1 and with 3 instances sharing a three-member etcd cluster and one
// Pebble, every instance managing every name, the first one serving
// http-01 for all. Each iteration uses new names and new instances.
// Reported per certificate: wall time, ACME requests (all instances) and
// newOrder requests (1 is exactly once).
//
//	go test -run '^$' -bench Cluster -benchtime 1x
func BenchmarkCluster(b *testing.B) {
	const n = 100
	for _, instances := range []int{1, 3} {
		b.Run(fmt.Sprintf("instances=%d", instances), func(b *testing.B) {
			h := newHarness(b, 3, 5*time.Second)
			var total time.Duration
			var reqs, orders int64
			for i := range b.N {
				before, beforeOrders := h.requests(), h.newOrders()
				first := len(h.insts)
				for range instances {
					h.addInstance(8)
				}
				if i == 0 {
					h.serveHTTP01(h.insts[0])
				}
				ns := names(n, fmt.Sprintf("bench%d-%d", instances, i))
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				start := time.Now()
				for _, inst := range h.insts[first:] {
					h.manage(ctx, inst, ns)
				}
				for _, inst := range h.insts[first:] {
					if err := inst.m.Ready(ctx); err != nil {
						b.Fatal(err)
					}
				}
				total += time.Since(start)
				cancel()
				reqs += h.requests() - before
				orders += h.newOrders() - beforeOrders
				// Only the first instance serves http-01: keep it, stop
				// the others of this round.
				for _, inst := range h.insts[max(first, 1):] {
					inst.cancel()
					<-inst.done
				}
			}
			certs := float64(b.N * n)
			b.ReportMetric(float64(total.Milliseconds())/certs, "ms/cert")
			b.ReportMetric(float64(reqs)/certs, "acme-req/cert")
			b.ReportMetric(float64(orders)/certs, "newOrder/cert")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkStoreCertificate measures what one certificate costs the etcd
// store on a three-member loopback cluster: saving it (key, chain and
// metadata, each a fenced-free transaction with its modification time),
// loading it, and the bytes it occupies in etcd.
func BenchmarkStoreCertificate(b *testing.B) {
	c := etcdtest.New(b, 3)
	st, err := etcdstore.Open(etcdstore.Config{Endpoints: c.Endpoints(), Prefix: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	res := benchRecord(b)
	certs := store.Certs{Store: st}
	ctx := context.Background()
	b.Run("Save", func(b *testing.B) {
		var i atomic.Int64
		for b.Loop() {
			r := res
			r.Name = fmt.Sprintf("c%d.example.test", i.Add(1))
			if err := certs.SaveCertificate(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Load", func(b *testing.B) {
		for b.Loop() {
			if _, err := certs.LoadCertificate(ctx, res.CA, "c1.example.test"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Put", func(b *testing.B) {
		v := make([]byte, 1024)
		for b.Loop() {
			if err := st.Put(ctx, "bench/put", v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.Get(ctx, "bench/put"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("FencedPut", func(b *testing.B) {
		fctx, unlock, err := st.LockFenced(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		defer unlock()
		v := make([]byte, 1024)
		for b.Loop() {
			if err := st.Put(fctx, "bench/fenced", v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("LockUnlock", func(b *testing.B) {
		for b.Loop() {
			_, unlock, err := st.TryLockFenced(ctx, "bench-lock")
			if err != nil {
				b.Fatal(err)
			}
			unlock()
		}
	})
	// Bytes of one certificate: keys and values, with the
	// modification-time keys.
	resp, err := st.Client().Get(ctx, st.Prefix(), clientWithPrefix()...)
	if err != nil {
		b.Fatal(err)
	}
	var bytes int
	for _, kv := range resp.Kvs {
		if string(kv.Key) >= st.Prefix()+".mtime/certificates/127.0.0.1-1/c1.example.test/" &&
			string(kv.Key) < st.Prefix()+".mtime/certificates/127.0.0.1-1/c1.example.test0" ||
			string(kv.Key) >= st.Prefix()+"certificates/127.0.0.1-1/c1.example.test/" &&
				string(kv.Key) < st.Prefix()+"certificates/127.0.0.1-1/c1.example.test0" {
			bytes += len(kv.Key) + len(kv.Value)
		}
	}
	b.Logf("one certificate (EC P-256 key, chain of 2): %d bytes of keys and values in etcd", bytes)
}

// benchRecord makes a certificate like an issued one: a leaf and an
// intermediate, with its key.
func benchRecord(b *testing.B) store.CertRecord {
	caKey, _ := keys.Generate(keys.EC256)
	leafKey, _ := keys.Generate(keys.EC256)
	ca := &x509.Certificate{SerialNumber: bigOne(), NotBefore: time.Now(), NotAfter: time.Now().Add(90 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(nil, ca, ca, caKey.Public(), caKey)
	if err != nil {
		b.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := &x509.Certificate{SerialNumber: bigOne(), NotBefore: time.Now(), NotAfter: time.Now().Add(90 * 24 * time.Hour), DNSNames: []string{"c1.example.test"}}
	leafDER, err := x509.CreateCertificate(nil, leaf, caCert, leafKey.Public(), caKey)
	if err != nil {
		b.Fatal(err)
	}
	keyPEM, _ := keys.MarshalPEM(leafKey)
	return store.CertRecord{
		Name: "c1.example.test", Identifiers: []string{"c1.example.test"},
		CA: "https://127.0.0.1:1/dir", CertURL: "https://127.0.0.1:1/certZ/0123456789abcdef",
		ObtainedAt: time.Now(), KeyPEM: keyPEM, ChainPEM: keys.EncodeCertificates(leafDER, caDER),
	}
}
