package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/solver/solverset"
	"github.com/certkeeper/certkeeper/store"
)

// TestHoldHonoursContext: an order waits for another process's lock on
// its solvers' listen address; a second order of the same solver set
// waiting behind it gives up when its context ends, the engine stays
// usable meanwhile (its mutex is not held), and once the lock is free the
// first order gets the set and the next one shares it.
func TestHoldHonoursContext(t *testing.T) {
	ctx := t.Context()
	s := store.NewMemory()
	e, err := New(Config{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	set := &solverset.Set{}
	e.setAddrs[set] = []string{"127.0.0.1:1"}
	other, err := s.Lock(ctx, "listen/127.0.0.1:1") // another process's order
	if err != nil {
		t.Fatal(err)
	}

	first := make(chan error, 1)
	var release func()
	go func() {
		var err error
		release, err = e.hold(ctx, set)
		first <- err
	}()
	// Wait until the first order is waiting for the store's lock.
	for {
		e.mu.Lock()
		busy := e.holds[set] != nil && e.holds[set].busy != nil
		e.mu.Unlock()
		if busy {
			break
		}
		time.Sleep(time.Millisecond)
	}

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := e.hold(short, set)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("second order: %v, want its context's deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second order waiting for the same solvers does not honour its context")
	}

	if err := other(); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatalf("first order: %v", err)
	}
	again, err := e.hold(ctx, set)
	if err != nil {
		t.Fatalf("an order sharing the held set: %v", err)
	}
	// The set is released, and its lock, when both orders are done.
	release()
	if u, err := s.TryLock(ctx, "listen/127.0.0.1:1"); err == nil {
		u()
		t.Fatal("the listen address was released while an order still holds it")
	}
	again()
	u, err := s.TryLock(ctx, "listen/127.0.0.1:1")
	if err != nil {
		t.Fatalf("the listen address is still locked after both orders: %v", err)
	}
	u()
}
