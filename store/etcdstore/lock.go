package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/certkeeper/certkeeper/store"
)

// Lock takes the lock called name among every user of the cluster and
// returns the function that releases it. The lock lives as long as this
// process keeps its lease alive (see Options.LockTTL). Writes are not
// fenced; use LockFenced for that.
func (s *Store) Lock(ctx context.Context, name string) (func() error, error) {
	_, unlock, err := s.lock(ctx, name, false)
	return unlock, err
}

// LockFenced takes the lock called name and returns a fenced context: Put
// and Delete with it are transactions that apply only if this lock's key
// still exists with the revision it was created at, so a holder whose
// lease expired while it was paused or cut off cannot overwrite what the
// next holder wrote. The context is canceled when the lease is lost or
// the lock released.
func (s *Store) LockFenced(ctx context.Context, name string) (context.Context, func() error, error) {
	return s.lock(ctx, name, false)
}

// TryLockFenced is LockFenced that returns an error wrapping
// store.ErrLockBusy at once if another process (or another caller in
// this one) holds the lock.
func (s *Store) TryLockFenced(ctx context.Context, name string) (context.Context, func() error, error) {
	return s.lock(ctx, name, true)
}

// fenceKey is the context key of a *fence.
type fenceKey struct{}

// fence is a lock held, as carried by a fenced context.
type fence struct {
	s        *Store
	mu       *concurrency.Mutex
	sess     *concurrency.Session
	released chan struct{} // closed by unlock
}

func fenceOf(ctx context.Context, s *Store) *fence {
	f, _ := ctx.Value(fenceKey{}).(*fence)
	if f == nil || f.s != s {
		return nil
	}
	return f
}

// isLost reports whether the lock is known to be lost without asking etcd.
func (f *fence) isLost() bool {
	select {
	case <-f.released:
		return true
	case <-f.sess.Done():
		return true
	default:
		return false
	}
}

// cmp is the transaction condition "the lock is still held".
func (f *fence) cmp() clientv3.Cmp { return f.mu.IsOwner() }

// check asks etcd whether the lock is still held. The answer must be
// linearizable: it follows a write refused a moment ago, possibly by
// another member. etcd serves a transaction whose operations are all
// serializable reads (and one with no operation at all counts as such)
// from whichever member receives it, which may not yet have applied a
// revocation the others have; the count-only read of the lock's key in
// Then makes that member confirm with the leader first.
func (f *fence) check(ctx context.Context) (lost bool, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var resp *clientv3.TxnResponse
	err = retry(ctx, func() (err error) {
		resp, err = f.s.cli.Txn(ctx).If(f.cmp()).Then(clientv3.OpGet(f.mu.Key(), clientv3.WithCountOnly())).Commit()
		return err
	})
	if err != nil {
		return false, err
	}
	return !resp.Succeeded, nil
}

func (s *Store) lock(ctx context.Context, name string, try bool) (context.Context, func() error, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if name == "" || len(name) > store.MaxKeyLen {
		return nil, nil, fmt.Errorf("etcdstore: %w: lock name must be 1 to %d bytes", store.ErrInvalidKey, store.MaxKeyLen)
	}
	// One lease serves every lock of this Store, and etcd's mutex keys
	// are per lease: exclude the callers of this process first.
	releaseLocal, err := s.lockLocal(ctx, name, try)
	if err != nil {
		return nil, nil, err
	}
	var (
		sess *concurrency.Session
		mu   *concurrency.Mutex
	)
	for attempt := 1; ; attempt++ {
		sess, err = s.getSession(ctx)
		if err != nil {
			releaseLocal()
			return nil, nil, err
		}
		mu = concurrency.NewMutex(sess, s.lockKey(name))
		if try {
			err = retry(ctx, func() error { return mu.TryLock(ctx) })
			if errors.Is(err, concurrency.ErrLocked) {
				err = fmt.Errorf("etcdstore: lock %q: %w", name, store.ErrLockBusy)
			}
		} else {
			err = retry(ctx, func() error { return mu.Lock(ctx) })
		}
		// The lease expired (this process was cut off or paused for
		// longer than LockTTL) before the keep-alive noticed: start
		// again with a new one.
		if rpctypes.Error(err) == rpctypes.ErrLeaseNotFound && attempt < 3 {
			s.dropSession(sess)
			continue
		}
		break
	}
	if err != nil {
		releaseLocal()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}
	f := &fence{s: s, mu: mu, sess: sess, released: make(chan struct{})}
	fctx, cancel := context.WithCancelCause(context.WithValue(ctx, fenceKey{}, f))
	go func() {
		select {
		case <-sess.Done():
			cancel(fmt.Errorf("etcdstore: lock %q: lease expired: %w", name, store.ErrLockLost))
		case <-f.released:
			cancel(fmt.Errorf("etcdstore: lock %q released: %w", name, store.ErrLockLost))
		case <-fctx.Done():
		}
	}()
	var once sync.Once
	unlock := func() error {
		err := fmt.Errorf("etcdstore: lock %q already released", name)
		once.Do(func() {
			close(f.released)
			uctx, c := context.WithTimeout(context.Background(), 10*time.Second)
			defer c()
			err = retry(uctx, func() error { return mu.Unlock(uctx) })
			releaseLocal()
			if err != nil {
				// The key would otherwise stay under a lease that this
				// process keeps alive, and nobody could take the lock.
				go unlockLater(mu, sess)
			}
		})
		return err
	}
	return fctx, unlock, nil
}

// getSession returns the live lease of this Store, granting a new one if
// there is none or the last one expired.
func (s *Store) getSession(ctx context.Context) (*concurrency.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.session != nil {
		select {
		case <-s.session.Done():
			s.session = nil
		default:
			return s.session, nil
		}
	}
	ttl := int64((s.opts.LockTTL + time.Second - 1) / time.Second)
	var lease *clientv3.LeaseGrantResponse
	err := retry(ctx, func() (err error) {
		lease, err = s.cli.Grant(ctx, ttl)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("etcdstore: granting a lease: %w", err)
	}
	sess, err := concurrency.NewSession(s.cli, concurrency.WithLease(lease.ID), concurrency.WithTTL(int(ttl)))
	if err != nil {
		return nil, fmt.Errorf("etcdstore: keeping a lease alive: %w", err)
	}
	s.session = sess
	return sess, nil
}

// dropSession forgets sess, whose lease is gone, so that the next lock
// grants a new one.
func (s *Store) dropSession(sess *concurrency.Session) {
	s.mu.Lock()
	if s.session == sess {
		s.session = nil
	}
	s.mu.Unlock()
	sess.Orphan()
}

// lockLocal takes the in-process lock called name.
func (s *Store) lockLocal(ctx context.Context, name string, try bool) (func(), error) {
	for {
		s.mu.Lock()
		held, busy := s.local[name]
		if !busy {
			mine := make(chan struct{})
			s.local[name] = mine
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.local, name)
				s.mu.Unlock()
				close(mine)
			}, nil
		}
		s.mu.Unlock()
		if try {
			return nil, fmt.Errorf("etcdstore: lock %q: %w", name, store.ErrLockBusy)
		}
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// unlockLater keeps trying to delete a lock's key until it is gone or its
// lease is.
func unlockLater(mu *concurrency.Mutex, sess *concurrency.Session) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	for wait := time.Second; ctx.Err() == nil; wait = min(2*wait, 30*time.Second) {
		if err := mu.Unlock(ctx); err == nil || errors.Is(err, concurrency.ErrLockReleased) {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}
