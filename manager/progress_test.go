package manager_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/managertest"
	"github.com/certkeeper/certkeeper/store"
)

// slowLock is a store whose locks are taken only after a while, as when
// another process holds them.
type slowLock struct {
	store.Store
	wait time.Duration
}

func (s slowLock) Lock(ctx context.Context, name string) (func() error, error) {
	select {
	case <-time.After(s.wait):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.Lock(ctx, name)
}

// Waiting for the store's lock says so after a second, then every few
// seconds, with the certificate's name and how long so far.
func TestProgressLockWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logBuffer
		clock := managertest.NewFakeClock(t0)
		h := newHarness(t, slowLock{store.NewMemory(), 12 * time.Second}, clock, &fakeCA{clock: clock, life: 90 * day}, func(c *manager.Config) {
			c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}))
		})
		ctx := context.Background()
		if err := h.m.Manage(ctx, testCert("*.example.com")); err != nil {
			t.Fatal(err)
		}
		if err := h.m.Renew(ctx, "*.example.com"); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "waiting for the store's lock") {
				got = append(got, l)
			}
		}
		want := []string{"waited=1s", "waited=6s", "waited=11s"}
		if len(got) != len(want) {
			t.Fatalf("%d lock wait lines, want %d:\n%s", len(got), len(want), logs.String())
		}
		for i, l := range got {
			if !strings.Contains(l, "level=INFO") || !strings.Contains(l, "name=*.example.com") || !strings.Contains(l, "lock=obtain/") || !strings.HasSuffix(l, want[i]) {
				t.Errorf("line %d: %s; want Info, the name, the lock and %s", i, l, want[i])
			}
		}
	})
}

// A failure event says when the next attempt comes, and in how long.
func TestEventNextIn(t *testing.T) {
	ev := manager.Event{Type: manager.EventFailed, Time: t0, Name: "a.example.com", Attempt: 2, NextAttempt: t0.Add(90 * time.Second)}
	var logs logBuffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "event", ev)
	if s := logs.String(); !strings.Contains(s, "event.next_in=1m30s") || !strings.Contains(s, "event.attempt=2") {
		t.Errorf("event line %s: want next_in=1m30s", s)
	}
}
