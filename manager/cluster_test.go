package manager_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/managertest"
	"github.com/certkeeper/certkeeper/store"
)

// fencedMemory is a store.Memory with fenced locks and watches, standing
// in for a distributed store in fast tests. Locks are exclusive per name;
// a fenced context records the generation of the lock it was taken with,
// and its writes fail with store.ErrLockLost once that generation is gone.
type fencedMemory struct {
	*store.Memory
	mu       sync.Mutex
	gen      int
	held     map[string]int           // lock name → generation
	freed    map[string]chan struct{} // closed when the lock is released
	lost     map[int]func()           // generation → cancels its fenced context
	watchers map[chan store.WatchEvent]string
}

var (
	_ store.FencedLocker = (*fencedMemory)(nil)
	_ store.Watcher      = (*fencedMemory)(nil)
)

func newFencedMemory() *fencedMemory {
	return &fencedMemory{Memory: store.NewMemory(), held: map[string]int{}, freed: map[string]chan struct{}{}, lost: map[int]func(){}, watchers: map[chan store.WatchEvent]string{}}
}

type fenceToken struct {
	name string
	gen  int
}

type fenceKey struct{}

func (f *fencedMemory) checkFence(ctx context.Context) error {
	tok, ok := ctx.Value(fenceKey{}).(fenceToken)
	if !ok {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held[tok.name] != tok.gen {
		return store.ErrLockLost
	}
	return nil
}

func (f *fencedMemory) notify(key string, deleted bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch, prefix := range f.watchers {
		if len(key) >= len(prefix) && key[:len(prefix)] == prefix {
			ch <- store.WatchEvent{Key: key, Deleted: deleted}
		}
	}
}

func (f *fencedMemory) Put(ctx context.Context, key string, value []byte) error {
	if err := f.checkFence(ctx); err != nil {
		return err
	}
	if err := f.Memory.Put(ctx, key, value); err != nil {
		return err
	}
	f.notify(key, false)
	return nil
}

func (f *fencedMemory) Delete(ctx context.Context, key string) error {
	if err := f.checkFence(ctx); err != nil {
		return err
	}
	if err := f.Memory.Delete(ctx, key); err != nil {
		return err
	}
	f.notify(key, true)
	return nil
}

func (f *fencedMemory) Watch(ctx context.Context, prefix string) (<-chan store.WatchEvent, error) {
	ch := make(chan store.WatchEvent, 10000)
	f.mu.Lock()
	f.watchers[ch] = prefix
	f.mu.Unlock()
	out := make(chan store.WatchEvent)
	go func() {
		defer close(out)
		for {
			select {
			case ev := <-ch:
				select {
				case out <- ev:
				case <-ctx.Done():
				}
			case <-ctx.Done():
				f.mu.Lock()
				delete(f.watchers, ch)
				f.mu.Unlock()
				return
			}
		}
	}()
	return out, nil
}

func (f *fencedMemory) LockFenced(ctx context.Context, name string) (context.Context, func() error, error) {
	return f.lock(ctx, name, false)
}

func (f *fencedMemory) TryLockFenced(ctx context.Context, name string) (context.Context, func() error, error) {
	return f.lock(ctx, name, true)
}

func (f *fencedMemory) lock(ctx context.Context, name string, try bool) (context.Context, func() error, error) {
	for {
		f.mu.Lock()
		if _, busy := f.held[name]; !busy {
			f.gen++
			gen := f.gen
			f.held[name] = gen
			f.freed[name] = make(chan struct{})
			fctx, cancelCause := context.WithCancelCause(context.WithValue(ctx, fenceKey{}, fenceToken{name, gen}))
			cancel := func() { cancelCause(store.ErrLockLost) }
			f.lost[gen] = cancel
			f.mu.Unlock()
			var once sync.Once
			return fctx, func() error {
				err := errors.New("already released")
				once.Do(func() { f.release(name, gen); cancel(); err = nil })
				return err
			}, nil
		}
		wait := f.freed[name]
		f.mu.Unlock()
		if try {
			return nil, nil, fmt.Errorf("%q: %w", name, store.ErrLockBusy)
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// release ends the lock of generation gen, as an expired lease would:
// its fenced context is canceled.
func (f *fencedMemory) release(name string, gen int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held[name] == gen {
		delete(f.held, name)
		close(f.freed[name])
	}
	if cancel := f.lost[gen]; cancel != nil {
		delete(f.lost, gen)
		cancel()
	}
}

// loseLock ends the lock called name, whoever holds it, as an expired
// lease would.
func (f *fencedMemory) loseLock(name string) {
	f.mu.Lock()
	gen, ok := f.held[name]
	f.mu.Unlock()
	if ok {
		f.release(name, gen)
	}
}

// TestClusterFake runs two Managers on one fenced, watched store: one
// order per certificate, the other instance serving it through the watch
// without waiting on the lock, and a failure's backoff adopted by the
// other instance instead of a second order.
func TestClusterFake(t *testing.T) { synctest.Test(t, testClusterFake) }

func testClusterFake(t *testing.T) {
	st := newFencedMemory()
	clock := managertest.NewFakeClock(t0)
	ca := &fakeCA{clock: clock, life: 90 * day, gate: make(chan struct{})}
	h1 := newHarness(t, st, clock, ca, nil)
	h2 := newHarness(t, st, clock, ca, nil)
	ctx := t.Context()
	for _, h := range []*harness{h1, h2} {
		if err := h.m.Manage(ctx, testCert("a.test")); err != nil {
			t.Fatal(err)
		}
		h.run()
	}
	synctest.Wait()
	if ca.orders.Load() == 0 || !manager.Idle(h1.m) && !manager.Idle(h2.m) {
		t.Fatal("no order, or both managers busy: one should have found the lock taken and gone on")
	}
	ca.mu.Lock()
	close(ca.gate)
	ca.gate = nil
	ca.mu.Unlock()
	for _, h := range []*harness{h1, h2} {
		if err := h.m.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		if h.m.Lookup("a.test") == nil {
			t.Error("an instance does not serve a.test")
		}
	}
	if n := ca.orders.Load(); n != 1 {
		t.Errorf("%d orders for one certificate, want 1", n)
	}

	// A failure: whoever orders records the backoff, the other adopts it.
	ca.setFail(errCA)
	for _, h := range []*harness{h1, h2} {
		if err := h.m.Manage(ctx, testCert("b.test")); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []*harness{h1, h2} {
		if err := h.m.Ready(ctx); err == nil || !strings.Contains(err.Error(), errCA.Error()) {
			t.Errorf("Ready: %v, want the CA's failure", err)
		}
	}
	// Past the busy retry, well before the first backoff (1 min).
	for range 3 {
		h1.waitIdle()
		h2.waitIdle()
		clock.Advance(manager.ClusterBusyRetry)
	}
	h1.waitIdle()
	h2.waitIdle()
	if n := ca.orders.Load(); n != 2 {
		t.Errorf("%d orders in all, want 2 (one per certificate)", n)
	}
	for i, h := range []*harness{h1, h2} {
		for _, s := range h.m.Status() {
			if s.Name == "b.test" && (s.Failures != 1 || !s.NextRenewal.After(clock.Now())) {
				t.Errorf("instance %d: %+v; want the failure and its backoff", i, s)
			}
		}
	}

	// A holder whose lock is lost cannot write: the fence refuses it.
	fctx, unlock, err := st.LockFenced(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	gen := st.held["x"]
	st.mu.Unlock()
	st.release("x", gen) // as when the lease expires
	if err := st.Put(fctx, "late", []byte("x")); !errors.Is(err, store.ErrLockLost) {
		t.Errorf("fenced Put after the lock was lost: %v", err)
	}
	unlock()
}
