package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
)

// An obtain interrupted in the middle of its order (Ctrl-C) leaves the
// order's URL in the certificate's renewal state; obtaining the same
// certificate again continues that order: the CA sees one newOrder in
// all. Not parallel: the dns hook is set through the environment.
func TestInterruptedOrderResumed(t *testing.T) {
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	presented := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		op, name, value := r.Form.Get("op"), r.Form.Get("name"), r.Form.Get("value")
		switch op {
		case "present":
			e.pebble.DNS.AddTXT(name, value)
			select {
			case presented <- struct{}{}:
			default:
			}
		case "cleanup":
			e.pebble.DNS.RemoveTXT(name, value)
		default:
			http.Error(w, "bad op", 400)
		}
	}))
	defer srv.Close()
	t.Setenv(hookEnv, srv.URL)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const name = "resume.example.test"

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		args := append(append([]string{"obtain"}, e.caFlags()...), "-dns-hook", exe, "-dns-delay", "10m", name)
		done <- Main(ctx, args, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	}()
	select {
	case <-presented:
	case <-time.After(time.Minute):
		t.Fatalf("the challenge was never presented:\n%s", errb.String())
	}
	cancel() // Ctrl-C
	select {
	case code := <-done:
		if code != ExitInterrupted {
			t.Fatalf("exit %d, want %d:\n%s", code, ExitInterrupted, errb.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("obtain did not stop after the interrupt")
	}
	if n := e.proxy.orders(); n != 1 {
		t.Fatalf("%d newOrder requests before the interrupt, want 1", n)
	}
	pending := pendingOrders(t, e.store)
	if len(pending) != 1 {
		t.Fatalf("renewal states hold pending orders %v, want one", pending)
	}

	r := e.obtain("-dns-hook", exe, "-dns-delay", "10ms", name)
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

// pendingOrders returns the pending_order of every renewal state in the
// store.
func pendingOrders(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
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
		}
		if json.Unmarshal(data, &st) == nil && st.PendingOrder != "" {
			out = append(out, st.PendingOrder)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
