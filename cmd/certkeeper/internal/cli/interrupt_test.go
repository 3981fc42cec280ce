package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acmetest"
)

// Interrupted in the middle of an order (Ctrl-C), obtain cleans up the
// challenge it presented, releases the store's lock and exits 130.
func TestInterruptCleansUp(t *testing.T) {
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	hook := startDNSHook(t, e)
	c := startCLI(t, Env{}, "obtain", "-ca", e.ca(), "-ca-root", e.root, "-store", e.store,
		"-agree-tos", "-dns-hook", hook.exe, "-dns-delay", "10m", "int.example.test")
	hook.waitPresented(t, c)
	if code := c.stop(t); code != ExitInterrupted { // Ctrl-C
		t.Errorf("exit %d, want %d:\n%s", code, ExitInterrupted, c.log.String())
	}
	var ops []string
	for _, call := range hook.called() {
		op, _, _ := strings.Cut(call, " ")
		ops = append(ops, op)
	}
	if got := strings.Join(ops, " "); got != "present cleanup" {
		t.Errorf("hook calls %q, want the challenge cleaned up", got)
	}
	locks, _ := filepath.Glob(filepath.Join(e.store, ".locks", "*.lock"))
	if len(locks) > 0 {
		t.Errorf("lock files left behind: %v", locks)
	}
}
