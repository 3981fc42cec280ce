//go:build unix

package cli

// Issue 11, point 8, end to end: the certkeeper binary (cmd/certkeeper,
// built by certkeeperBinary) is killed with SIGKILL in the middle of an order
// against Pebble, at a point the test holds it at, and run again with the
// same arguments: the second run finishes the order in flight, and the CA
// sees one newOrder (and one finalize) in all.

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/keys"
)

// killWait bounds every wait of these tests: long, for a busy machine;
// each wait ends as soon as its condition holds.
const killWait = 3 * time.Minute

// TestKilledObtainResumesOrder kills "certkeeper obtain" at four points
// of an order: before the challenge is answered (the challenge POST
// held at the proxy), while the CA validates it (Pebble's http-01 request
// held at the web server), after the CA answered finalize (its answer
// held), and after the CA sent the certificate (its answer held). Each
// time the renewal state holds the order's URL (and, once finalized, its
// key) when the process dies; the next run continues that order.
func TestKilledObtainResumesOrder(t *testing.T) {
	t.Parallel()
	bin := certkeeperBinary(t)
	// isPost reports whether r is a POST whose path starts with prefix
	// and, if accept, whose JWS payload is not empty (not a POST-as-GET).
	isPost := func(r *http.Request, body []byte, prefix string, accept bool) bool {
		return r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, prefix) && (!accept || jwsPayload(body) != "")
	}
	cases := []struct {
		name string
		// proxy holds the first request for which it is true.
		proxy func(r *http.Request, body []byte, answered bool) bool
		// validation holds Pebble's http-01 requests instead.
		validation bool
		// finalized: the CA has the certificate request when the process
		// dies, so the key it was made with must be kept with the order.
		finalized bool
		// presented: the challenge's response is still presented when
		// the process dies (it is cleaned up once the order is known
		// validated: once the finalize is answered).
		presented bool
	}{
		{name: "challenge not answered", proxy: func(r *http.Request, body []byte, answered bool) bool {
			return !answered && isPost(r, body, "/chalZ/", true)
		}},
		{name: "validation in progress", validation: true, presented: true},
		{name: "finalize answered", finalized: true, presented: true, proxy: func(r *http.Request, body []byte, answered bool) bool {
			return answered && isPost(r, body, "/finalize-order/", false)
		}},
		{name: "certificate sent", finalized: true, proxy: func(r *http.Request, body []byte, answered bool) bool {
			return answered && isPost(r, body, "/certZ/", false)
		}},
	}
	// Each kill point is tried with three commands: obtain killed and
	// run again; renew -force (of a certificate obtained before) killed
	// and run again; obtain killed and then renew, as cron runs it, with
	// -store alone.
	for _, what := range []string{"obtain", "renew", "obtain_then_cron"} {
		renew := what == "renew"
		for _, tc := range cases {
			t.Run(what+"_"+strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
				t.Parallel()
				e := newLineageEnv(t, acmetest.PebbleOptions{})
				webroot := t.TempDir()
				reached := make(chan string, 1)
				arrive := func(what string) {
					select {
					case reached <- what:
					default:
					}
				}
				release := make(chan struct{})
				var releaseOnce sync.Once
				defer releaseOnce.Do(func() { close(release) })
				var armed atomic.Bool // the order to kill is under way
				serveHTTP01(t, e.httpAddr(), webroot, func() bool { return tc.validation && armed.Load() }, arrive, release)
				name := "kill-" + strings.ReplaceAll(tc.name, " ", "-") + ".example.test"
				args := append(append([]string{"obtain"}, e.caFlags()...), "-http-webroot", webroot, name)
				orders, finalizes, serial, done := 1, 1, "", "obtained "+name
				if renew {
					if r := runCertkeeper(t, bin, args); r.code != ExitOK {
						t.Fatalf("first obtain: %v", r)
					}
					serial = serialOf(t, e.store, e.ca(), name)
					args = []string{"renew", "-store", e.store, "-force"}
					orders, finalizes, done = 2, 2, "renewed "+name
				}
				if tc.proxy != nil {
					var mu sync.Mutex
					held := false
					e.proxy.setHook(func(r *http.Request, body []byte, answered bool) {
						mu.Lock()
						hold := !held && tc.proxy(r, body, answered)
						held = held || hold
						mu.Unlock()
						if hold {
							arrive(fmt.Sprintf("%s %s (answered %v)", r.Method, r.URL.Path, answered))
							<-r.Context().Done() // until the client is gone
						}
					})
				}
				armed.Store(true)

				var first *childRun
				for attempt := 1; ; attempt++ {
					challenges := len(e.proxy.postsWithPrefix("/chalZ/"))
					first = startCertkeeper(t, bin, args)
					select {
					case what := <-reached:
						t.Logf("held: %s", what)
					case <-first.done:
						// Pebble reuses a valid authorization about once in
						// a hundred orders even when told never to
						// (PEBBLE_AUTHZREUSE=0; it reuses unless
						// rand.Intn(100) > 0): a renewal order is then ready
						// at once and passes no point before finalize.
						// That renewal succeeded; renew again.
						r := first.result()
						if renew && !tc.finalized && r.code == ExitOK && attempt < 5 && len(e.proxy.postsWithPrefix("/chalZ/")) == challenges {
							t.Logf("the CA reused the authorization (no challenge); renewing again:\n%v", r)
							orders, finalizes = orders+1, finalizes+1
							continue
						}
						t.Fatalf("the first run ended before the point it is killed at:\n%v", r)
					case <-time.After(killWait):
						first.stop()
						t.Fatalf("the first run never reached the point it is killed at:\n%v", first.result())
					}
					break
				}
				order, key := pendingOrderOf(t, e.store)
				if order == "" {
					t.Errorf("when the process was killed, its renewal state held no pending order")
				}
				if tc.finalized && key == nil {
					t.Errorf("when the process was killed, after finalize, its renewal state held no key for order %s", order)
				}
				first.kill(t)
				releaseOnce.Do(func() { close(release) })
				e.proxy.setHook(nil)

				if what == "obtain_then_cron" {
					args = []string{"renew", "-store", e.store}
				}
				second := runCertkeeper(t, bin, args)
				if second.code != ExitOK || !strings.Contains(second.stdout, done) {
					t.Fatalf("run again after kill -9: want exit 0 and %q:\n%v", done, second)
				}
				if n := e.proxy.ordersPlaced(); n != orders {
					t.Errorf("%d orders placed in all (%d newOrder requests), want %d: the order in flight was placed again", n, e.proxy.orders(), orders)
				}
				if n := len(e.proxy.postsWithPrefix("/finalize-order/")); n != finalizes {
					t.Errorf("%d finalize requests in all, want %d", n, finalizes)
				}
				res := mustStoredCert(t, e.store, e.ca(), name)
				if _, err := tls.X509KeyPair(res.ChainPEM, res.KeyPEM); err != nil {
					t.Errorf("the stored certificate and key do not pair: %v", err)
				}
				if got := serialOf(t, e.store, e.ca(), name); got == serial {
					t.Errorf("the certificate stored is still the one before the renewal (serial %s)", serial)
				}
				if tc.finalized && key != nil {
					stored, err := keys.ParsePEM(res.KeyPEM)
					if err != nil {
						t.Fatal(err)
					}
					if !stored.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
						t.Errorf("the stored key is not the one the killed run finalized the order with")
					}
				}
				if p, _ := pendingOrderOf(t, e.store); p != "" {
					t.Errorf("pending order %s left after the order succeeded", p)
				}
				// Killed while the CA validates, or before the finalize
				// sent when the order was likely validated is answered
				// (acme.Client.FinalizeWhenReady), the file the killed
				// run presented stays: the next run finds the
				// authorization valid and presents nothing, so it cleans
				// nothing up (challenge.Solver: CleanUp only after its own
				// Present).
				left, _ := filepath.Glob(filepath.Join(webroot, ".well-known", "acme-challenge", "*"))
				if !tc.presented && len(left) > 0 {
					t.Errorf("challenge files left in the webroot: %v", left)
				}
				if left, _ := filepath.Glob(filepath.Join(e.store, ".locks", "*")); len(left) > 0 {
					t.Errorf("lock files left in the store: %v", left)
				}
			})
		}
	}
}

// childRun is one run of the certkeeper executable.
type childRun struct {
	cmd      *exec.Cmd
	args     []string
	out, err bytes.Buffer
	done     chan struct{} // closed when it has ended
	waitErr  error
}

// startCertkeeper starts bin with args and an environment of its own
// (no CERTKEEPER_* variable of the test's). The run is killed, if it
// still runs, when t ends.
func startCertkeeper(t *testing.T, bin string, args []string) *childRun {
	t.Helper()
	c := &childRun{args: args, done: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.err
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// kill kills the run with SIGKILL and waits for it to end (and be reaped,
// so that its pid no longer names a process).
func (c *childRun) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	select {
	case <-c.done:
	case <-time.After(killWait):
		t.Fatal("the process did not end after SIGKILL")
	}
	var ee *exec.ExitError
	ws, ok := syscall.WaitStatus(0), false
	if errors.As(c.waitErr, &ee) {
		ws, ok = ee.Sys().(syscall.WaitStatus)
	}
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the process ended otherwise than by SIGKILL:\n%v", c.result())
	}
}

// stop ends a run that hangs, its goroutines dumped on its stderr
// (SIGQUIT), and waits for it.
func (c *childRun) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.done:
	case <-time.After(killWait):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// result is what the run did; call it once the run has ended.
func (c *childRun) result() cliResult {
	code := -1
	if c.cmd.ProcessState != nil {
		code = c.cmd.ProcessState.ExitCode()
	}
	return cliResult{args: c.args, code: code, stdout: c.out.String(), stderr: c.err.String()}
}

// runCertkeeper runs bin with args to its end (at most killWait).
func runCertkeeper(t *testing.T, bin string, args []string) cliResult {
	t.Helper()
	c := startCertkeeper(t, bin, args)
	select {
	case <-c.done:
	case <-time.After(killWait):
		c.stop()
		t.Fatalf("certkeeper did not end within %v:\n%v", killWait, c.result())
	}
	return c.result()
}

// serveHTTP01 serves the files of webroot on addr, where Pebble validates
// http-01 challenges, until t ends. Each request for which hold is true
// first calls arrive and waits until release is closed.
func serveHTTP01(t *testing.T, addr, webroot string, hold func() bool, arrive func(string), release <-chan struct{}) {
	t.Helper()
	files := http.FileServer(http.Dir(webroot))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hold() {
			arrive("GET " + r.URL.Path + " (validation)")
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		files.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("http-01 server: %v", err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// pendingOrderOf returns the pending order of the one renewal state in
// the store that has one, and the key kept with it (nil if none); ""
// and nil if no state has one.
func pendingOrderOf(t *testing.T, dir string) (string, crypto.Signer) {
	t.Helper()
	var order string
	var key crypto.Signer
	for _, st := range pendingStates(t, dir) {
		if order != "" {
			t.Errorf("two pending orders in the store: %s and %s", order, st.order)
		}
		order = st.order
		if st.key != "" {
			var err error
			if key, err = keys.ParsePEM([]byte(st.key)); err != nil {
				t.Errorf("pending key of %s: %v", st.path, err)
			}
		}
	}
	return order, key
}

// jwsPayload returns the base64url payload of a flattened JWS ("" for a
// POST-as-GET, RFC 8555 §6.3).
func jwsPayload(body []byte) string {
	var jws struct{ Payload string }
	if json.Unmarshal(body, &jws) != nil {
		return ""
	}
	if _, err := base64.RawURLEncoding.DecodeString(jws.Payload); err != nil {
		return ""
	}
	return jws.Payload
}

// postsWithPrefix returns the POSTs so far whose path starts with prefix.
func (x *acmeProxy) postsWithPrefix(prefix string) []proxiedPost {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []proxiedPost
	for _, p := range x.posts {
		if strings.HasPrefix(p.Path, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// TestKilledAfterStoringOrdersAnew kills "certkeeper obtain" after the
// certificate is stored and before the renewal state that still names
// the order is rewritten (the renewal information request that comes
// between them held at the proxy). That order is over: the certificate
// it gave is the one held. Run again, obtain finds the certificate; a
// renewal then orders a new certificate rather than take the held one
// again from the old order.
func TestKilledAfterStoringOrdersAnew(t *testing.T) {
	t.Parallel()
	bin := certkeeperBinary(t)
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	webroot := t.TempDir()
	serveHTTP01(t, e.httpAddr(), webroot, func() bool { return false }, nil, nil)
	reached := make(chan string, 1)
	var mu sync.Mutex
	held := false
	e.proxy.setHook(func(r *http.Request, body []byte, answered bool) {
		mu.Lock()
		hold := !held && !answered && strings.Contains(r.URL.Path, "renewalInfo")
		held = held || hold
		mu.Unlock()
		if hold {
			reached <- r.Method + " " + r.URL.Path
			<-r.Context().Done()
		}
	})
	const name = "stored.example.test"
	args := append(append([]string{"obtain"}, e.caFlags()...), "-http-webroot", webroot, name)
	first := startCertkeeper(t, bin, args)
	select {
	case what := <-reached:
		t.Logf("held: %s", what)
	case <-first.done:
		t.Fatalf("the first run ended before the point it is killed at:\n%v", first.result())
	case <-time.After(killWait):
		first.stop()
		t.Fatalf("the first run never reached the point it is killed at:\n%v", first.result())
	}
	serial := serialOf(t, e.store, e.ca(), name)
	if serial == "" {
		t.Fatal("no certificate stored when the renewal information was asked for")
	}
	order, _ := pendingOrderOf(t, e.store)
	first.kill(t)
	e.proxy.setHook(nil)
	t.Logf("killed with the certificate stored and the renewal state naming order %q", order)

	if r := runCertkeeper(t, bin, args); r.code != ExitOK || !strings.Contains(r.stdout, "still valid") {
		t.Errorf("obtain again: want exit 0 and \"still valid\":\n%v", r)
	}
	if n := e.proxy.orders(); n != 1 {
		t.Errorf("%d newOrder requests, want 1", n)
	}
	r := runCertkeeper(t, bin, []string{"renew", "-store", e.store, "-force"})
	if r.code != ExitOK || !strings.Contains(r.stdout, "renewed "+name) {
		t.Errorf("renew -force: want exit 0 and \"renewed\":\n%v", r)
	}
	if got := serialOf(t, e.store, e.ca(), name); got == serial {
		t.Errorf("renew -force kept the certificate it had (serial %s): it took it again from the order already done", serial)
	}
	if n := e.proxy.ordersPlaced(); n != 2 {
		t.Errorf("%d orders placed in all (%d newOrder requests), want 2", n, e.proxy.orders())
	}
	if p, _ := pendingOrderOf(t, e.store); p != "" {
		t.Errorf("pending order %s left after the renewal", p)
	}
}
