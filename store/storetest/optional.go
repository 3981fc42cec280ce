package storetest

import (
	"context"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/store"
)

// RunWatcher checks the store.Watcher contract against w, which must also
// be the Store written to: events for Puts and Deletes under the prefix,
// in order, none for other keys, and a channel closed when ctx is done.
func RunWatcher(t *testing.T, w interface {
	store.Store
	store.Watcher
}) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := w.Watch(ctx, "../x"); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("Watch(invalid prefix): %v, want ErrInvalidKey", err)
	}
	ch, err := w.Watch(ctx, "watch/in/")
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Put(ctx, "watch/out/a", []byte("1")))
	must(w.Put(ctx, "watch/in/a", []byte("1")))
	must(w.Put(ctx, "watch/in/b/c", []byte("2")))
	must(w.Delete(ctx, "watch/in/a"))
	want := []store.WatchEvent{{Key: "watch/in/a"}, {Key: "watch/in/b/c"}, {Key: "watch/in/a", Deleted: true}}
	for i, wt := range want {
		select {
		case ev := <-ch:
			if ev.Reset {
				t.Logf("reset event; skipping the order check")
				return
			}
			if ev.Key != wt.Key || ev.Deleted != wt.Deleted {
				t.Errorf("event %d = %+v, want key %q deleted %v", i, ev, wt.Key, wt.Deleted)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event %d (%+v) within 10 s", i, wt)
		}
	}
	cancel()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the channel is still open 10 s after ctx was canceled")
		}
	}
}

// RunFencedLocker checks the parts of the store.FencedLocker contract that
// need no way to kill a holder: exclusion between TryLockFenced and
// LockFenced, fenced writes while held, and writes refused with
// ErrLockLost after unlock. A backend's own tests should also check that a
// holder whose lease expired is fenced.
func RunFencedLocker(t *testing.T, s interface {
	store.Store
	store.FencedLocker
}) {
	ctx := t.Context()
	fctx, unlock, err := s.LockFenced(ctx, "fence/a")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.TryLockFenced(ctx, "fence/a"); !errors.Is(err, store.ErrLockBusy) {
		t.Errorf("TryLockFenced while held: %v, want ErrLockBusy", err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	if _, _, err := s.LockFenced(wctx, "fence/a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("LockFenced while held: %v, want DeadlineExceeded", err)
	}
	wcancel()
	if err := s.Put(fctx, "fence/key", []byte("held")); err != nil {
		t.Fatalf("fenced Put while held: %v", err)
	}
	if err := s.Put(context.WithoutCancel(fctx), "fence/key2", []byte("held")); err != nil {
		t.Fatalf("fenced Put through WithoutCancel while held: %v", err)
	}
	if err := s.Delete(fctx, "fence/key2"); err != nil {
		t.Fatalf("fenced Delete while held: %v", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err == nil {
		t.Error("second unlock returned nil")
	}
	select {
	case <-fctx.Done():
	case <-time.After(5 * time.Second):
		t.Error("the fenced context is not canceled 5 s after unlock")
	}
	if err := s.Put(context.WithoutCancel(fctx), "fence/key", []byte("late")); !errors.Is(err, store.ErrLockLost) {
		t.Errorf("fenced Put after unlock: %v, want ErrLockLost", err)
	}
	if err := s.Delete(context.WithoutCancel(fctx), "fence/key"); !errors.Is(err, store.ErrLockLost) {
		t.Errorf("fenced Delete after unlock: %v, want ErrLockLost", err)
	}
	if v, err := s.Get(ctx, "fence/key"); err != nil || string(v) != "held" {
		t.Errorf("after refused writes: %q, %v; want \"held\"", v, err)
	}
	if _, err := s.Get(ctx, "fence/key2"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("fence/key2: %v", err)
	}
	// Free again: TryLockFenced takes it, and unfenced writes are untouched.
	_, unlock2, err := s.TryLockFenced(ctx, "fence/a")
	if err != nil {
		t.Fatalf("TryLockFenced when free: %v", err)
	}
	if err := unlock2(); err != nil {
		t.Fatal(err)
	}
}
