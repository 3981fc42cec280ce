package etcdstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/etcdstore/etcdtest"
)

// TestSessionEndsLeaseLives: the etcd client gives up keeping a lease
// alive (as it does when no keep-alive is answered for the lease's TTL,
// while the cluster elects a new leader), but etcd still holds the lease
// and so the lock. The lock is kept: its fenced context lives on, a
// fenced write goes through, and a new session keeps the same lease
// alive. Once the lease is really gone, the lock is lost.
func TestSessionEndsLeaseLives(t *testing.T) {
	c := etcdtest.New(t, 1)
	ctx := t.Context()
	s := newStore(t, c, "revive", Options{LockTTL: 2 * time.Second})
	fctx, unlock, err := s.LockFenced(ctx, "order/x")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	f := fenceOf(fctx, s)
	lease := f.sess.Lease()
	f.sess.Orphan() // the client stops its keep-alive; the lease lives on
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for revived := false; !revived; {
		s.mu.Lock()
		cur := s.session
		s.mu.Unlock()
		revived = cur != nil && cur != f.sess && cur.Lease() == lease
		select {
		case <-fctx.Done():
			t.Fatalf("the lock was given up with the session, its lease alive: %v", context.Cause(fctx))
		case <-wctx.Done():
			t.Fatal("no session keeps the lease alive again")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := s.Put(fctx, "certificates/x", []byte("still the holder")); err != nil {
		t.Fatalf("fenced Put once the lease is kept alive again: %v", err)
	}
	if got := f.current().Lease(); got != lease {
		t.Errorf("the fence follows lease %x, want %x", got, lease)
	}
	// Gone for good: the next keep-alive finds no lease.
	if _, err := s.cli.Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fctx.Done():
		if !errors.Is(context.Cause(fctx), store.ErrLockLost) {
			t.Errorf("cause %v, want ErrLockLost", context.Cause(fctx))
		}
	case <-wctx.Done():
		t.Fatal("the fenced context lives on after its lease was revoked")
	}
	if err := s.Put(context.WithoutCancel(fctx), "certificates/x", []byte("late")); !errors.Is(err, store.ErrLockLost) {
		t.Errorf("Put after the lease was revoked: %v, want ErrLockLost", err)
	}
}
