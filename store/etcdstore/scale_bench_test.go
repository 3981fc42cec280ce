package etcdstore_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
)

// clusterN is the number of names of BenchmarkClusterScale, a flag of
// this test binary only:
//
//	go test -run '^$' -bench ClusterScale -benchtime 1x . -cluster.n 1000
var clusterN = flag.Int("cluster.n", 100, "BenchmarkClusterScale: names kept by the three instances")

// errKilled is what the ACME requests of a killed instance get.
var errKilled = errors.New("instance killed")

// killSwitch is the transport of an instance that can be killed: once
// set, no request leaves it and no answer reaches it, as for a process
// that died. It counts the newOrder requests in flight when it was set:
// the CA may have placed those orders without the instance ever
// learning their URL.
type killSwitch struct {
	next     http.RoundTripper
	dead     atomic.Bool
	inFlight atomic.Int64 // newOrder requests sent and not answered
	lost     atomic.Int64 // of those, answered after the kill
}

func (k *killSwitch) RoundTrip(req *http.Request) (*http.Response, error) {
	if k.dead.Load() {
		return nil, errKilled
	}
	order := req.Method == http.MethodPost && req.URL.Path == "/order-plz"
	if order {
		k.inFlight.Add(1)
		defer k.inFlight.Add(-1)
	}
	resp, err := k.next.RoundTrip(req)
	if k.dead.Load() {
		if order {
			k.lost.Add(1)
		}
		if err == nil {
			resp.Body.Close()
		}
		return nil, errKilled
	}
	return resp, err
}

// BenchmarkClusterScale is issue 12, point 3: three instances, each with
// its own etcd client, on a three-member etcd cluster keep N names
// (-cluster.n) obtained from one Pebble through a counting proxy
// (acmetest.FaultProxy without rules), every instance managing every
// name at Concurrency 8, instance 0 answering http-01 for all (the
// shared solver). Once a quarter of the orders are placed, instance 2 is
// killed while it holds locks with orders in flight: its ACME traffic
// stops, its etcd connection closes without releasing its locks (their
// lease, LockTTL 2 s, runs out) and its goroutines stop. A new instance
// 2 starts in its place, as a restarted process would.
//
// Checked: exactly N newOrder at the proxy (the killed instance's
// in-flight orders continued by another instance, not placed again),
// and every instance, the restarted one included, serving every
// certificate (Lookup). Reported: wall time from Manage to every
// instance Ready, ACME requests per certificate (every request at the
// proxy), etcd bytes per certificate (keys and values under the
// prefix, and the database size of a member).
func BenchmarkClusterScale(b *testing.B) {
	n := *clusterN
	for i := range b.N {
		h := newHarness(b, 3, 2*time.Second)
		h.fp = acmetest.NewTestFaultProxy(b, h.pebble)
		switches := map[int]*killSwitch{}
		var swMu sync.Mutex
		h.wrap = func(inst int, rt http.RoundTripper) http.RoundTripper {
			k := &killSwitch{next: rt}
			swMu.Lock()
			switches[inst] = k
			swMu.Unlock()
			return k
		}
		for range 3 {
			h.addInstance(8)
		}
		h.serveHTTP01(h.insts[0])
		ns := names(n, fmt.Sprintf("scale%d", i))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
		start := time.Now()
		for _, inst := range h.insts {
			h.manage(ctx, inst, ns)
		}

		victim := h.insts[2]
		var (
			killedAt time.Time
			pending  int
			atKill   int64
		)
		killed := make(chan struct{})
		go func() {
			defer close(killed)
			for ctx.Err() == nil {
				if placed := h.orders(); placed >= int64(n/4) {
					p := 0
					for _, st := range victim.m.Status() {
						if st.PendingOrder != "" {
							p++
						}
					}
					if p > 0 {
						switches[victim.id].dead.Store(true)
						h.kill(victim)
						killedAt, pending, atKill = time.Now(), p, placed
						return
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		for _, inst := range h.insts[:2] {
			if err := inst.m.Ready(ctx); err != nil {
				b.Fatalf("instance %d: Ready: %v", inst.id, err)
			}
		}
		<-killed
		if killedAt.IsZero() {
			b.Fatal("instance 2 was never seen with an order in flight: not killed")
		}
		elapsed := time.Since(start)
		restarted := h.addInstance(8)
		h.manage(ctx, restarted, ns)
		if err := restarted.m.Ready(ctx); err != nil {
			b.Fatalf("restarted instance: Ready: %v", err)
		}
		total := time.Since(start)

		sw := switches[victim.id]
		b.Logf("%d names, 3 instances: every surviving instance ready in %v (restarted instance ready %v after the start); instance 2 killed %v after the start with %d orders placed in all and %d of its own in flight (%d newOrder requests in flight at the kill, %d answered after it)",
			n, elapsed.Round(time.Millisecond), total.Round(time.Millisecond), killedAt.Sub(start).Round(time.Millisecond), atKill, pending, sw.inFlight.Load(), sw.lost.Load())
		orders := h.orders()
		if orders != int64(n) {
			b.Errorf("%d newOrder placed at the proxy for %d names; want exactly %d", orders, n, n)
		}
		for _, inst := range append([]*instance{h.insts[0], h.insts[1]}, restarted) {
			missing := 0
			for _, name := range ns {
				if inst.m.Lookup(name) == nil {
					missing++
				}
			}
			if missing > 0 {
				b.Errorf("instance %d serves %d of %d certificates", inst.id, n-missing, n)
			}
		}
		reqs := len(h.fp.Requests())
		keyBytes, dbSize := h.etcdBytes(ctx)
		cancel()
		b.Logf("%.2f ACME requests per certificate (%d in all, %d newOrder); etcd: %.0f bytes of keys and values per certificate under the prefix (%d in all), database size %.0f bytes per certificate (%d, one member)",
			float64(reqs)/float64(n), reqs, orders, float64(keyBytes)/float64(n), keyBytes, float64(dbSize)/float64(n), dbSize)
		b.ReportMetric(elapsed.Seconds(), "s")
		b.ReportMetric(float64(reqs)/float64(n), "acme-req/cert")
		b.ReportMetric(float64(orders)/float64(n), "newOrder/cert")
		b.ReportMetric(float64(keyBytes)/float64(n), "etcd-B/cert")
		b.ReportMetric(float64(dbSize)/float64(n), "etcd-db-B/cert")
		b.ReportMetric(0, "ns/op")
	}
}

// orders counts the newOrder requests the CA answered 201 (Created), as
// the proxy saw them.
func (h *harness) orders() int64 {
	var c int64
	for _, r := range h.fp.Requests() {
		if r.Path == "/order-plz" && r.UpstreamStatus == http.StatusCreated {
			c++
		}
	}
	return c
}

// etcdBytes returns the bytes of the keys and values under the
// harness's prefix, and the database size of the first member.
func (h *harness) etcdBytes(ctx context.Context) (kv, db int64) {
	st := h.insts[0].st
	resp, err := st.Client().Get(ctx, st.Prefix(), clientWithPrefix()...)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, x := range resp.Kvs {
		kv += int64(len(x.Key) + len(x.Value))
	}
	s, err := st.Client().Status(ctx, h.etcd.Endpoints()[0])
	if err != nil {
		h.t.Fatal(err)
	}
	return kv, s.DbSize
}
