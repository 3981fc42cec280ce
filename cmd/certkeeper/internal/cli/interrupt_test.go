package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
)

// Interrupted in the middle of an order (Ctrl-C), obtain cleans up the
// challenge it presented, releases the store's lock and exits 130.
func TestInterruptCleansUp(t *testing.T) {
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	var (
		mu        sync.Mutex
		calls     []string
		presented = make(chan struct{}, 1)
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		calls = append(calls, r.Form.Get("op"))
		mu.Unlock()
		if r.Form.Get("op") == "present" {
			select {
			case presented <- struct{}{}:
			default:
			}
		}
	}))
	defer srv.Close()
	t.Setenv(hookEnv, srv.URL)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"obtain", "-ca", e.pebble.DirectoryURL, "-ca-root", e.root, "-store", e.store,
			"-agree-tos", "-dns-hook", exe, "-dns-delay", "10m", "int.example.test"}, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	}()
	select {
	case <-presented:
	case <-time.After(time.Minute):
		t.Fatalf("the challenge was never presented:\n%s", errb.String())
	}
	cancel() // Ctrl-C
	var code int
	select {
	case code = <-done:
	case <-time.After(time.Minute):
		t.Fatal("obtain did not stop after the interrupt")
	}
	if code != ExitInterrupted {
		t.Errorf("exit %d, want %d:\n%s", code, ExitInterrupted, errb.String())
	}
	mu.Lock()
	got := strings.Join(calls, " ")
	mu.Unlock()
	if got != "present cleanup" {
		t.Errorf("hook calls %q, want the challenge cleaned up", got)
	}
	locks, _ := filepath.Glob(filepath.Join(e.store, ".locks", "*.lock"))
	if len(locks) > 0 {
		t.Errorf("lock files left behind: %v", locks)
	}
}
