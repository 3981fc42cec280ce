package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/store"
)

// The store's lock directory removed under a running daemon, and the
// daemon lock taken meanwhile by another process (a second daemon): the
// first daemon's next refresh finds its lock lost, and it stops, exit 1,
// saying whose the lock is now and what to do, rather than run on beside
// the other. The other's lock is left to it.
func TestDaemonStopsWhenLockLost(t *testing.T) {
	t.Parallel()
	storeDir := filepath.Join(t.TempDir(), "store")
	path := writeConfig(t, unreachableConfig(t, storeDir, "[[certificate]]\nnames = [\"a.example.test\"]\n"))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	log := &syncBuffer{}
	exit := make(chan int, 1)
	// The daemon's lock refreshed every 100 ms rather than 30 s.
	go func() {
		exit <- Main(withStaleLockAfter(ctx, 400*time.Millisecond), []string{"run", "-config", path}, Env{Stdout: log, Stderr: log})
	}()
	eventually(t, 30*time.Second, "the daemon to start", func() bool { return strings.Contains(log.String(), "daemon started") })

	other, err := store.NewDir(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	var unlock func() error
	for i := 0; ; i++ {
		if err := os.RemoveAll(filepath.Join(storeDir, ".locks")); err != nil {
			t.Fatal(err)
		}
		// The daemon's refresh may put its lock back first: again.
		if unlock, err = other.TryLock(ctx, daemonLock); err == nil {
			break
		}
		if !errors.Is(err, store.ErrLockBusy) || i == 100 {
			t.Fatalf("taking the daemon lock while .locks stood removed: %v", err)
		}
	}

	var code int
	select {
	case code = <-exit:
	case <-time.After(time.Minute):
		t.Fatalf("the daemon did not stop within a minute of losing its lock; log:\n%s", log.String())
	}
	out := log.String()
	want := fmt.Sprintf("certkeeper run: lost the store's daemon lock to another process (pid %d on ", os.Getpid())
	if code != ExitError || !strings.Contains(out, want) || !strings.Contains(out, filepath.Join(storeDir, ".locks")+" stood removed or stale") ||
		!strings.Contains(out, "keep one daemon per store: stop the other one, then start this one again if it is the one to run\n") {
		t.Errorf("daemon: exit %d; want exit %d and a message starting %q; log:\n%s", code, ExitError, want, out)
	}
	if !strings.Contains(out, "the store's daemon lock was lost: stopping") || strings.Contains(out, "releasing the store's daemon lock") {
		t.Errorf("the daemon's log does not say once that it stops for the lost lock:\n%s", out)
	}
	if err := unlock(); err != nil {
		t.Errorf("the other holder's lock was not left to it: %v", err)
	}
}
