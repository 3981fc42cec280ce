package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/etcdstore/etcdtest"
	"github.com/certkeeper/certkeeper/store/storetest"
)

// cluster is one three-member etcd cluster shared by the tests of this
// file; each test works under its own prefix.

func newStore(t *testing.T, c *etcdtest.Cluster, prefix string, opts Options) *Store {
	t.Helper()
	s, err := Open(Config{Endpoints: c.Endpoints(), Prefix: prefix, DialTimeout: 5 * time.Second, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	c := etcdtest.New(t, 3)
	s := newStore(t, c, "contract", Options{LockTTL: 2 * time.Second})
	storetest.Run(t, s)
	t.Run("Watcher", func(t *testing.T) { storetest.RunWatcher(t, s) })
	t.Run("FencedLocker", func(t *testing.T) { storetest.RunFencedLocker(t, s) })

	t.Run("Prefixes", func(t *testing.T) {
		other := newStore(t, c, "other/", Options{})
		if err := other.Put(t.Context(), "rt/a", []byte("other")); err != nil {
			t.Fatal(err)
		}
		keys, err := other.List(t.Context(), "")
		if err != nil || len(keys) != 1 || keys[0] != "rt/a" {
			t.Errorf("List in another prefix = %q, %v", keys, err)
		}
		// The contract store's own keys are untouched, and its
		// bookkeeping keys never show.
		all, _ := s.List(t.Context(), "")
		for _, k := range all {
			if k[0] == '.' {
				t.Errorf("List shows %q", k)
			}
		}
	})
	t.Run("TooLarge", func(t *testing.T) {
		err := s.Put(t.Context(), "big/b", make([]byte, DefaultMaxValueSize+1))
		if !errors.Is(err, store.ErrTooLarge) {
			t.Errorf("Put: %v", err)
		}
	})
}

// TestFencing checks what the contract suite cannot: a holder that dies
// loses its lock after the lease time, and a holder whose lease expired
// while it was cut off (here: revoked behind its back, before its
// keep-alive notices) cannot write, even through a transaction that
// skips the local check.
func TestFencing(t *testing.T) {
	c := etcdtest.New(t, 3)
	ctx := t.Context()
	a := newStore(t, c, "fence", Options{LockTTL: time.Second})
	b := newStore(t, c, "fence", Options{LockTTL: time.Second})

	// A dead holder: its client closes without unlocking.
	cliA, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	dead := New(cliA, "fence", Options{LockTTL: time.Second})
	dctx, _, err := dead.LockFenced(ctx, "order/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.Put(dctx, "certificates/x", []byte("dead holder, on time")); err != nil {
		t.Fatal(err)
	}
	cliA.Close()
	start := time.Now()
	bctx, bunlock, err := b.LockFenced(ctx, "order/x")
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("took over a dead holder's lock after %v", took)
	if took < 500*time.Millisecond || took > 5*time.Second {
		t.Errorf("took over after %v; want about the 1 s lease", took)
	}
	if err := dead.Put(context.WithoutCancel(dctx), "certificates/x", []byte("late")); !errors.Is(err, store.ErrLockLost) {
		t.Errorf("dead holder's late Put: %v, want ErrLockLost", err)
	}
	if err := b.Put(bctx, "certificates/x", []byte("new holder")); err != nil {
		t.Fatal(err)
	}
	bunlock()

	// A holder that does not know it lost the lock: its lease is
	// revoked from elsewhere; the transaction's condition refuses the
	// write whatever the holder believes.
	actx, aunlock, err := a.LockFenced(ctx, "order/y")
	if err != nil {
		t.Fatal(err)
	}
	defer aunlock()
	f := fenceOf(actx, a)
	if _, err := b.cli.Revoke(ctx, f.sess.Lease()); err != nil {
		t.Fatal(err)
	}
	// Bypass the session check: the transaction alone must refuse.
	f2 := &fence{s: a, mu: f.mu, sess: f.sess, released: make(chan struct{})}
	wctx := context.WithValue(context.Background(), fenceKey{}, f2)
	if f2.isLost() {
		t.Log("the keep-alive noticed the revocation already; the transaction is checked anyway")
		f2.sess = liveSession(t, a)
	}
	if err := a.Put(wctx, "certificates/y", []byte("stale")); !errors.Is(err, store.ErrLockLost) {
		t.Errorf("Put with a revoked lease: %v, want ErrLockLost", err)
	}
	if err := a.Delete(wctx, "certificates/x"); !errors.Is(err, store.ErrLockLost) {
		t.Errorf("Delete with a revoked lease: %v, want ErrLockLost", err)
	}
	if v, err := a.Get(ctx, "certificates/x"); err != nil || string(v) != "new holder" {
		t.Errorf("certificates/x = %q, %v", v, err)
	}
	select {
	case <-actx.Done():
		if !errors.Is(context.Cause(actx), store.ErrLockLost) {
			t.Errorf("cause %v", context.Cause(actx))
		}
	case <-time.After(5 * time.Second):
		t.Error("the fenced context is still live 5 s after its lease was revoked")
	}
	// The Store grants itself a new lease for the next lock.
	_, u, err := a.TryLockFenced(ctx, "order/z")
	if err != nil {
		t.Fatalf("lock after a lost lease: %v", err)
	}
	u()
}

// liveSession returns a session that is not done, to test the
// transaction's condition on its own.
func liveSession(t *testing.T, s *Store) *concurrency.Session {
	t.Helper()
	sess, err := s.getSession(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

// TestLeaderLoss kills the leader while locks, writes and a watch are in
// use: all of them carry on through the other members.
func TestLeaderLoss(t *testing.T) {
	c := etcdtest.New(t, 3)
	ctx := t.Context()
	s := newStore(t, c, "leader", Options{LockTTL: 2 * time.Second})
	w := newStore(t, c, "leader", Options{})
	events, err := w.Watch(ctx, "k/")
	if err != nil {
		t.Fatal(err)
	}
	fctx, unlock, err := s.LockFenced(ctx, "l")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var worst time.Duration
	for i := range n {
		if i == n/2 {
			c.Members[leader].Kill()
			t.Logf("killed the leader, %s", c.Members[leader].Name)
		}
		start := time.Now()
		pctx, cancel := context.WithTimeout(fctx, 10*time.Second)
		err := s.Put(pctx, fmt.Sprintf("k/%02d", i), []byte("v"))
		cancel()
		if err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
		worst = max(worst, time.Since(start))
	}
	t.Logf("slowest fenced Put: %v", worst)
	seen := map[string]bool{}
	deadline := time.After(15 * time.Second)
	for len(seen) < n {
		select {
		case ev := <-events:
			if ev.Reset {
				t.Fatal("unexpected reset")
			}
			seen[ev.Key] = true
		case <-deadline:
			t.Fatalf("watch saw %d of %d keys", len(seen), n)
		}
	}
	if fctx.Err() != nil {
		t.Errorf("the lock was lost with the leader: %v", context.Cause(fctx))
	}
}

// TestFenceCheckAsksTheLeader: after a fenced write is refused, the store
// asks etcd whether the lock is still held, to tell a lost lock from a
// key conflict. The member that answers may lag behind: here the store
// talks to one follower only, which was paused while the lock's lease was
// revoked through the others. A read served from the follower's own
// state would say the lock is still held, and the refused write would be
// reported as a key conflict instead of ErrLockLost.
func TestFenceCheckAsksTheLeader(t *testing.T) {
	c := etcdtest.New(t, 3)
	ctx := t.Context()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower := c.Members[(leader+1)%3]
	var others []string
	for _, m := range c.Members {
		if m != follower {
			others = append(others, m.ClientURL)
		}
	}
	s, err := Open(Config{Endpoints: []string{follower.ClientURL}, Prefix: "lag", DialTimeout: 5 * time.Second, Options: Options{LockTTL: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	admin, err := Open(Config{Endpoints: others, Prefix: "lag", DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	for i := range 5 {
		fctx, unlock, err := s.LockFenced(ctx, fmt.Sprintf("order/%d", i))
		if err != nil {
			t.Fatal(err)
		}
		f := fenceOf(fctx, s)
		if err := follower.Pause(); err != nil {
			t.Fatal(err)
		}
		_, rerr := admin.cli.Revoke(ctx, f.sess.Lease())
		if err := follower.Resume(); err != nil {
			t.Fatal(err)
		}
		if rerr != nil {
			t.Fatal(rerr)
		}
		lost, err := f.check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !lost {
			t.Fatalf("round %d: the lock's lease was revoked, and the check says it is held", i)
		}
		unlock()
	}
}
