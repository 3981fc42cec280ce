package etcdstore_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// lockLostOnNewOrder is a transport that makes its instance lose every
// lock it holds (its lease is revoked, as when it runs out) as soon as
// the CA has answered the first newOrder for name, and hands the answer
// over only once the order's fenced context has ended: the order is
// placed, and the state can no longer take it.
type lockLostOnNewOrder struct {
	h     *harness
	name  string
	rt    http.RoundTripper
	fired atomic.Bool
	err   atomic.Value // string: what went wrong, if anything
}

func (l *lockLostOnNewOrder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/order-plz") ||
		resp.StatusCode != http.StatusCreated || l.fired.Swap(true) {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.h.revokeLockOf(ctx, l.name); err != nil {
		l.err.Store("revoking the lease: " + err.Error())
		return resp, nil
	}
	select {
	case <-req.Context().Done():
	case <-ctx.Done():
		l.err.Store("the order's context did not end when its lock was lost")
	}
	return resp, nil
}

// revokeLockOf revokes the lease of whoever holds the lock of the
// certificate name.
func (h *harness) revokeLockOf(ctx context.Context, name string) error {
	cli, err := h.etcd.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, h.prefix+"/.locks/", clientv3.WithPrefix())
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		if strings.Contains(string(kv.Key), "/"+name+"/") {
			_, err := cli.Revoke(ctx, clientv3.LeaseID(kv.Lease))
			return err
		}
	}
	return io.EOF
}

// TestClusterLockLostAfterNewOrder: the instance ordering a certificate
// loses its lock between the CA's answer to newOrder and the save of the
// order's URL in the certificate's state (the fenced save is refused).
// Whoever takes the lock next (here the same instance, with a new lease)
// continues that order: one order for the certificate, and an instance
// started afterwards serves it too.
func TestClusterLockLostAfterNewOrder(t *testing.T) {
	const name = "lost.cluster.test"
	h := newHarness(t, 3, 2*time.Second)
	var lost *lockLostOnNewOrder
	h.wrap = func(inst int, rt http.RoundTripper) http.RoundTripper {
		if inst != 0 {
			return rt
		}
		lost = &lockLostOnNewOrder{h: h, name: name, rt: rt}
		return lost
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	first := h.addInstance(2)
	h.serveHTTP01(first)
	h.manage(ctx, first, []string{name})
	if !poll(ctx, func() bool { return first.m.Lookup(name) != nil }) {
		t.Fatalf("the instance that lost its lock never got %s", name)
	}
	if !lost.fired.Load() {
		t.Fatal("the lock was not lost after newOrder")
	}
	if msg, _ := lost.err.Load().(string); msg != "" {
		t.Fatal(msg)
	}
	second := h.addInstance(2)
	h.manage(ctx, second, []string{name})
	if err := second.m.Ready(ctx); err != nil || second.m.Lookup(name) == nil {
		t.Fatalf("the second instance does not serve %s: %v", name, err)
	}
	if got := h.newOrders(); got != 1 {
		t.Errorf("%d orders for one certificate; want 1 (the order placed as the lock was lost, continued)", got)
	}
}
