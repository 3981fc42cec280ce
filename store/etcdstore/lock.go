package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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
	sess     *concurrency.Session // the session the lock was taken with
	released chan struct{}        // closed by unlock
	lost     chan struct{}        // closed when its lease is known to be gone

	cur atomic.Pointer[concurrency.Session] // the session keeping its lease alive now (see revive)
}

func fenceOf(ctx context.Context, s *Store) *fence {
	f, _ := ctx.Value(fenceKey{}).(*fence)
	if f == nil || f.s != s {
		return nil
	}
	return f
}

// isLost reports whether the lock is known to be lost before a write:
// released, or its lease gone. A session that ended while its lease
// lives on (see revive) is not a lost lock; when the session has ended
// and that is not yet known, it waits for revive's answer.
func (f *fence) isLost() bool {
	select {
	case <-f.released:
		return true
	case <-f.lost:
		return true
	default:
	}
	cur := f.current()
	select {
	case <-cur.Done():
		return f.s.revive(cur) == nil
	default:
		return false
	}
}

// current returns the session that keeps the lock's lease alive now.
func (f *fence) current() *concurrency.Session {
	if c := f.cur.Load(); c != nil {
		return c
	}
	return f.sess
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
	f := &fence{s: s, mu: mu, sess: sess, released: make(chan struct{}), lost: make(chan struct{})}
	fctx, cancel := context.WithCancelCause(context.WithValue(ctx, fenceKey{}, f))
	go func() {
		for cur := sess; ; {
			select {
			case <-cur.Done():
				if cur = s.revive(cur); cur != nil {
					f.cur.Store(cur)
					continue
				}
				close(f.lost)
				cancel(fmt.Errorf("etcdstore: lock %q: lease expired: %w", name, store.ErrLockLost))
			case <-f.released:
				cancel(fmt.Errorf("etcdstore: lock %q released: %w", name, store.ErrLockLost))
			case <-fctx.Done():
			}
			return
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
				go unlockLater(mu, f.current())
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

// revival is revive's answer for one session that ended.
type revival struct {
	done chan struct{}        // closed once sess is set
	sess *concurrency.Session // nil: the lease is gone
	at   time.Time            // when done was closed; under Store.mu
}

// revive is called when sess, which kept this Store's lease alive, has
// ended. The etcd client ends a session when no keep-alive was answered
// for the lease's TTL, as while the cluster elects a new leader, though
// the lease may live on (a new leader extends every lease). If etcd
// renews the lease now (a keep-alive answered with a TTL, within
// LockTTL/3 but at least a second: the lock may be lost meanwhile, and
// work under it goes on until the answer), the locks under it are still
// held: revive returns a new session that keeps the same lease alive,
// and makes it the Store's. It returns nil if the lease is gone or etcd
// did not answer in time. The first lock that asks about sess asks etcd;
// the others wait for its answer.
func (s *Store) revive(sess *concurrency.Session) *concurrency.Session {
	s.mu.Lock()
	r, asked := s.revivals[sess]
	if !asked {
		r = &revival{done: make(chan struct{})}
		now := time.Now()
		for k, old := range s.revivals {
			if !old.at.IsZero() && now.Sub(old.at) > time.Minute {
				delete(s.revivals, k)
			}
		}
		s.revivals[sess] = r
	}
	s.mu.Unlock()
	if asked {
		<-r.done
		return r.sess
	}
	var next *concurrency.Session
	ctx, cancel := context.WithTimeout(s.closing, max(s.opts.LockTTL/3, time.Second))
	defer cancel()
	var resp *clientv3.LeaseKeepAliveResponse
	err := retry(ctx, func() (err error) {
		resp, err = s.cli.KeepAliveOnce(ctx, sess.Lease())
		return err
	})
	if err == nil && resp.TTL > 0 {
		next, err = concurrency.NewSession(s.cli, concurrency.WithLease(sess.Lease()), concurrency.WithTTL(int(resp.TTL)),
			concurrency.WithContext(s.closing)) // Close ends its keep-alive
		if err != nil {
			next = nil
		}
	}
	s.mu.Lock()
	if next != nil && s.session == sess {
		s.session = next
	}
	r.sess, r.at = next, time.Now()
	s.mu.Unlock()
	close(r.done)
	return next
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
