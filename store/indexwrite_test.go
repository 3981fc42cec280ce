package store

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// gatedStore is a Memory whose first lock of the index waits for open to
// be closed, and which counts the locks of the index.
type gatedStore struct {
	*Memory
	open       chan struct{}
	indexLocks atomic.Int32
}

func (g *gatedStore) Lock(ctx context.Context, name string) (func() error, error) {
	if name == indexLock && g.indexLocks.Add(1) == 1 {
		<-g.open
	}
	return g.Memory.Lock(ctx, name)
}

// Index appends that arrive while one is being written are written
// together, under one hold of the index lock, and each returns once its
// line is in the index.
func TestIndexAppendsGrouped(t *testing.T) {
	ctx := context.Background()
	g := &gatedStore{Memory: NewMemory(), open: make(chan struct{})}
	c := &Certs{Store: g}
	const n = 10
	ca := "https://ca.example.test/directory"
	save := func(i int) error {
		return c.SaveSchedule(ctx, ca, fmt.Sprintf("host-%d.example.test", i), Schedule{Serial: fmt.Sprintf("%x", 100+i)})
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	wg.Go(func() { errs[0] = save(0) }) // writes, held at the lock
	for g.indexLocks.Load() == 0 {
		runtime.Gosched()
	}
	for i := 1; i < n; i++ {
		wg.Go(func() { errs[i] = save(i) })
	}
	// The nine others queue behind the first.
	for {
		c.idx.mu.Lock()
		queued := len(c.idx.pending)
		c.idx.mu.Unlock()
		if queued == n-1 {
			break
		}
		runtime.Gosched()
	}
	close(g.open)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("append %d: %v", i, err)
		}
	}
	if got := g.indexLocks.Load(); got != 2 {
		t.Errorf("index locked %d times for %d appends, want 2 (the first, then the nine queued meanwhile)", got, n)
	}
	keys, err := g.List(ctx, indexDir+"/")
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, k := range keys {
		data, err := g.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(data)
	}
	for i := range n {
		name := fmt.Sprintf("host-%d.example.test", i)
		if c := strings.Count(all.String(), name); c != 1 {
			t.Errorf("%s: %d lines in the index, want 1", name, c)
		}
	}
}
