// Package storetest checks that a store.Store backend honours the
// contract written in the store package, so that a backend outside the
// core module (such as the etcd one) is held to the same tests as Dir and
// Memory.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/store"
)

// Run runs the Store contract (see store.Store) against s as subtests of
// t. Every subtest works under its own key prefix, so s may be shared, but
// it should start empty: List("") is checked to hold what was written.
func Run(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustPut := func(t *testing.T, key, value string) {
		t.Helper()
		if err := s.Put(ctx, key, []byte(value)); err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
	}

	t.Run("Missing", func(t *testing.T) {
		if _, err := s.Get(ctx, "missing/a"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get: %v, want fs.ErrNotExist", err)
		}
		if _, err := s.Stat(ctx, "missing/a"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat: %v, want fs.ErrNotExist", err)
		}
		if err := s.Delete(ctx, "missing/a"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Delete: %v, want fs.ErrNotExist", err)
		}
		mustPut(t, "missing/dir/x", "x")
		// A prefix directory is not a value.
		if _, err := s.Get(ctx, "missing/dir"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get(directory): %v, want fs.ErrNotExist", err)
		}
		if _, err := s.Stat(ctx, "missing/dir"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(directory): %v, want fs.ErrNotExist", err)
		}
		// Below a value is missing too.
		if _, err := s.Get(ctx, "missing/dir/x/y"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get(below a value): %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		for _, v := range []string{"hello", "", "second value\x00with binary\xff"} {
			mustPut(t, "rt/a", v)
			got, err := s.Get(ctx, "rt/a")
			if err != nil || string(got) != v {
				t.Fatalf("Get = %q, %v; want %q", got, err, v)
			}
			info, err := s.Stat(ctx, "rt/a")
			if err != nil || info.Key != "rt/a" || info.Size != int64(len(v)) || info.Modified.IsZero() {
				t.Fatalf("Stat = %+v, %v", info, err)
			}
		}
		// Values are copied in and out.
		buf := []byte("original")
		if err := s.Put(ctx, "rt/b", buf); err != nil {
			t.Fatal(err)
		}
		buf[0] = 'X'
		got, _ := s.Get(ctx, "rt/b")
		got[1] = 'Y'
		if again, _ := s.Get(ctx, "rt/b"); string(again) != "original" {
			t.Errorf("stored value changed to %q", again)
		}
		if err := s.Delete(ctx, "rt/b"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "rt/b"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get after Delete: %v", err)
		}
	})

	t.Run("List", func(t *testing.T) {
		keys := []string{"ls/b/c/d", "ls/a", "ls/b-x", "ls/b/a", "ls/b/c/a", "lsx/z"}
		for _, k := range keys {
			mustPut(t, k, k)
		}
		for _, tt := range []struct {
			prefix string
			want   []string
		}{
			{"ls/", []string{"ls/a", "ls/b-x", "ls/b/a", "ls/b/c/a", "ls/b/c/d"}},
			{"ls/b/", []string{"ls/b/a", "ls/b/c/a", "ls/b/c/d"}},
			{"ls/b", []string{"ls/b-x", "ls/b/a", "ls/b/c/a", "ls/b/c/d"}},
			{"ls/b/c/d", []string{"ls/b/c/d"}},
			{"ls/nothing/", nil},
			{"nothing-here", nil},
		} {
			got, err := s.List(ctx, tt.prefix)
			if err != nil {
				t.Fatalf("List(%q): %v", tt.prefix, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("List(%q) = %q, want %q", tt.prefix, got, tt.want)
			}
		}
		all, err := s.List(ctx, "")
		if err != nil || !slices.IsSorted(all) {
			t.Fatalf("List(\"\") = %q, %v; want sorted", all, err)
		}
		for _, k := range keys {
			if _, ok := slices.BinarySearch(all, k); !ok {
				t.Errorf("List(\"\") lacks %q", k)
			}
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		for _, k := range []string{"", "../x", "/abs", "a/../../b", "a\x00b", "a\\b", ".", "..", "ｅxample.com", "exa\u202emple", "a/", "*.example.com"} {
			if _, err := s.Get(ctx, k); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Get(%q): %v", k, err)
			}
			if err := s.Put(ctx, k, []byte("x")); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Put(%q): %v", k, err)
			}
			if err := s.Delete(ctx, k); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Delete(%q): %v", k, err)
			}
			if _, err := s.Stat(ctx, k); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Stat(%q): %v", k, err)
			}
			if k != "" && k != "a/" {
				if _, err := s.List(ctx, k); !errors.Is(err, store.ErrInvalidKey) {
					t.Errorf("List(%q): %v", k, err)
				}
			}
		}
		if _, err := s.Lock(ctx, ""); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("Lock(\"\"): %v", err)
		}
	})

	t.Run("TooLarge", func(t *testing.T) {
		err := s.Put(ctx, "big/a", make([]byte, store.MaxValueSize+1))
		if !errors.Is(err, store.ErrTooLarge) {
			t.Errorf("Put: %v, want store.ErrTooLarge", err)
		}
		if _, err := s.Stat(ctx, "big/a"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("refused Put left something behind: %v", err)
		}
	})

	t.Run("Conflict", func(t *testing.T) {
		mustPut(t, "conflict/a", "x")
		if err := s.Put(ctx, "conflict/a/b", []byte("y")); err == nil {
			t.Error("Put below a value succeeded")
		}
		mustPut(t, "conflict/d/e", "x")
		if err := s.Put(ctx, "conflict/d", []byte("y")); err == nil {
			t.Error("Put over a directory succeeded")
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		c, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Put(c, "cancel/a", []byte("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("Put: %v", err)
		}
		if _, err := s.Get(c, "cancel/a"); !errors.Is(err, context.Canceled) {
			t.Errorf("Get: %v", err)
		}
		if _, err := s.List(c, ""); !errors.Is(err, context.Canceled) {
			t.Errorf("List: %v", err)
		}
		if _, err := s.Lock(c, "cancel"); !errors.Is(err, context.Canceled) {
			t.Errorf("Lock: %v", err)
		}
	})

	t.Run("ConcurrentPuts", func(t *testing.T) {
		const n = 16
		values := make([]string, n)
		for i := range values {
			values[i] = strings.Repeat(fmt.Sprint(i%10), 4096+i)
		}
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if err := s.Put(ctx, "conc/same", []byte(values[i])); err != nil {
					t.Error(err)
				}
				if err := s.Put(ctx, fmt.Sprintf("conc/own/%d", i), []byte(values[i])); err != nil {
					t.Error(err)
				}
				// Readers never see a torn value.
				if v, err := s.Get(ctx, "conc/same"); err != nil || !slices.Contains(values, string(v)) {
					t.Errorf("Get during Puts: %d bytes, %v", len(v), err)
				}
			})
		}
		wg.Wait()
		v, err := s.Get(ctx, "conc/same")
		if err != nil || !slices.Contains(values, string(v)) {
			t.Errorf("final value is none of those written (%d bytes, %v)", len(v), err)
		}
		for i := range n {
			v, err := s.Get(ctx, fmt.Sprintf("conc/own/%d", i))
			if err != nil || !bytes.Equal(v, []byte(values[i])) {
				t.Errorf("conc/own/%d: %v", i, err)
			}
		}
	})

	t.Run("LockExclusive", func(t *testing.T) {
		var holders, entered atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 3 {
					unlock, err := s.Lock(ctx, "excl/x")
					if err != nil {
						t.Error(err)
						return
					}
					if h := holders.Add(1); h != 1 {
						t.Errorf("%d holders at once", h)
					}
					entered.Add(1)
					time.Sleep(time.Millisecond)
					holders.Add(-1)
					if err := unlock(); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if entered.Load() != 24 {
			t.Errorf("entered %d times, want 24", entered.Load())
		}
	})

	t.Run("LockIndependentNames", func(t *testing.T) {
		u1, err := s.Lock(ctx, "indep/one")
		if err != nil {
			t.Fatal(err)
		}
		defer u1()
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		u2, err := s.Lock(c, "indep/two")
		if err != nil {
			t.Fatalf("a different name blocked: %v", err)
		}
		u2()
	})

	t.Run("LockCanceledWhileWaiting", func(t *testing.T) {
		unlock, err := s.Lock(ctx, "wait/x")
		if err != nil {
			t.Fatal(err)
		}
		c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := s.Lock(c, "wait/x"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Lock while held: %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Lock took %v to notice the deadline", d)
		}
		// The waiter that gave up must not have disturbed the holder, and
		// the holder's release lets the next one in.
		got := make(chan error, 1)
		go func() {
			u, err := s.Lock(ctx, "wait/x")
			if err == nil {
				err = u()
			}
			got <- err
		}()
		select {
		case err := <-got:
			t.Fatalf("second Lock succeeded while held: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		if err := unlock(); err == nil {
			t.Error("second unlock returned nil")
		}
	})
}
