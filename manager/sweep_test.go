package manager_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/managertest"
	"github.com/certkeeper/certkeeper/store"
)

// swept closes done when the manager logs that it swept the store.
type sweptHandler struct {
	slog.Handler
	once *sync.Once
	done chan struct{}
	t    *testing.T
}

func (h sweptHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		r.Attrs(func(a slog.Attr) bool {
			h.t.Errorf("%s: %s=%v", r.Message, a.Key, a.Value)
			return true
		})
	}
	if r.Message == "the store's leftovers swept for this boot" {
		h.once.Do(func() { close(h.done) })
	}
	return nil
}

func (h sweptHandler) Enabled(context.Context, slog.Level) bool { return true }

// Run sweeps a directory store's leftovers once per boot, beside its
// work, and leaves the marker that lets the processes after it in the
// same boot skip the look at their first lock of each certificate.
func TestRunSweepsTheStore(t *testing.T) {
	ctx, cancel := context.WithCancel(ctxT(t))
	root := t.TempDir()
	ds, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	clock := managertest.NewFakeClock(t0)
	h := newHarness(t, ds, clock, &fakeCA{clock: clock, life: 90 * day}, func(c *manager.Config) {
		c.Logger = slog.New(sweptHandler{Handler: slog.DiscardHandler, once: new(sync.Once), done: done, t: t})
	})
	if err := h.m.Manage(ctx, testCert("a.example.com")); err != nil {
		t.Fatal(err)
	}
	// The certificate is obtained beside the sweep: either may come
	// first (a store with no certificate yet has no lock directory).
	ran := make(chan error, 1)
	go func() { ran <- h.m.Run(ctx) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("no sweep")
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, ".locks", "swept"))
	if err != nil || !strings.Contains(string(b), "certkeeper-leftovers-swept") {
		t.Errorf("marker %q, %v", b, err)
	}
}
