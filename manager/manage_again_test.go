package manager_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/certkeeper/certkeeper/manager"
)

// TestManageAgainDuringAttempt: Manage called again for a certificate
// while its attempts run (the daemon's reload does this) replaces its
// Spec; the attempts must not read it unlocked (the race detector).
func TestManageAgainDuringAttempt(t *testing.T) {
	h := newTestSetup(t, nil)
	ctx := context.Background()
	if err := h.m.Manage(ctx, testCert("again.example.test")); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			if err := h.m.Manage(ctx, testCert("again.example.test")); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	h.run()
	h.next(manager.EventObtained)
	for range 20 {
		if err := h.m.Renew(ctx, "again.example.test"); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	<-done
}
