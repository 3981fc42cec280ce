package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/certkeeper/certkeeper/acmetest"
)

// An obtain interrupted in the middle of its order (Ctrl-C) leaves the
// order's URL in the certificate's renewal state; obtaining the same
// certificate again continues that order: the CA sees one newOrder in
// all. Not parallel: the dns hook is set through the environment.
func TestInterruptedOrderResumed(t *testing.T) {
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	hook := startDNSHook(t, e)
	const name = "resume.example.test"

	c := startCLI(t, Env{}, append(append([]string{"obtain"}, e.caFlags()...), "-dns-hook", hook.exe, "-dns-delay", "10m", name)...)
	hook.waitPresented(t, c)
	if code := c.stop(t); code != ExitInterrupted { // Ctrl-C
		t.Fatalf("exit %d, want %d:\n%s", code, ExitInterrupted, c.log.String())
	}
	if n := e.proxy.orders(); n != 1 {
		t.Fatalf("%d newOrder requests before the interrupt, want 1", n)
	}
	pending := pendingOrders(t, e.store)
	if len(pending) != 1 {
		t.Fatalf("renewal states hold pending orders %v, want one", pending)
	}

	r := e.obtain("-dns-hook", hook.exe, "-dns-delay", "10ms", name)
	if r.code != ExitOK {
		t.Fatalf("obtain again: exit %d:\n%s", r.code, r.stderr)
	}
	if n := e.proxy.orders(); n != 1 {
		t.Errorf("%d newOrder requests in all, want 1: the interrupted order continued", n)
	}
	if p := pendingOrders(t, e.store); len(p) != 0 {
		t.Errorf("pending orders %v left after the order succeeded", p)
	}
}

// pendingState is what a renewal state of the store keeps of an order
// in flight.
type pendingState struct {
	path  string // the state's file
	order string // pending_order
	key   string // pending_key, PEM
}

// pendingStates returns the renewal states in the store at dir that
// keep an order in flight.
func pendingStates(t *testing.T, dir string) []pendingState {
	t.Helper()
	var out []pendingState
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var st struct {
			PendingOrder string `json:"pending_order"`
			PendingKey   string `json:"pending_key"`
		}
		if json.Unmarshal(data, &st) == nil && st.PendingOrder != "" {
			out = append(out, pendingState{path, st.PendingOrder, st.PendingKey})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pendingOrders returns the pending_order of every renewal state in the
// store.
func pendingOrders(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, st := range pendingStates(t, dir) {
		out = append(out, st.order)
	}
	return out
}
