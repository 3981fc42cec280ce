package cli

// The set-ups the command's tests share: running the command (in the
// test, or in the background as the daemon, serve or an obtain to
// interrupt), a CA and a store to run it against, the test binary as a
// DNS hook, a busy port, files. A test states only what differs.

import (
	"bytes"
	"context"
	"fmt"
	"net"
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

// ---------------------------------------------------------------------
// Running the command.

// cliResult is what one run of the command did.
type cliResult struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r cliResult) String() string {
	return fmt.Sprintf("certkeeper %s: exit %d\n--- stdout:\n%s--- stderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// vars is an environment holding only m.
func vars(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// runEnv runs the command line args as cmd/certkeeper does, with env
// (its Stdout and Stderr are captured; a nil Getenv is an empty
// environment), for at most two minutes. It may be called from several goroutines.
func runEnv(ctx context.Context, env Env, args ...string) cliResult {
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	env.Stdout, env.Stderr = &out, &errb
	code := Main(ctx, args, env)
	return cliResult{args: args, code: code, stdout: out.String(), stderr: errb.String()}
}

// runCLI is runEnv with an empty environment.
func runCLI(ctx context.Context, args ...string) cliResult {
	return runEnv(ctx, Env{}, args...)
}

// mainEnv runs Main with the environment m and returns its exit code,
// stdout and stderr.
func mainEnv(t *testing.T, m map[string]string, args ...string) (int, string, string) {
	t.Helper()
	r := runEnv(t.Context(), Env{Getenv: vars(m)}, args...)
	return r.code, r.stdout, r.stderr
}

// flagMissing reports whether the command failed because a flag does not
// exist (the current command line, before the lineage engine).
func (r cliResult) flagMissing() bool {
	return strings.Contains(r.stderr, "flag provided but not defined")
}

// runningCmd is the command running in the background of a test (the
// daemon, serve, an obtain to interrupt), its stdout and stderr in log.
type runningCmd struct {
	name   string // "certkeeper run", for messages
	log    *syncBuffer
	reload chan struct{} // a send reloads the daemon's file, as SIGHUP does
	cancel context.CancelFunc
	exit   chan struct{} // closed when it has exited, with code
	code   int
	seen   bool // the test looked at the exit code itself
}

// startCLI runs args in the background with env (its Stdout and Stderr
// go to log; a nil Getenv is an empty environment) for at most three
// minutes. At the end of the test it is stopped as Ctrl-C stops it, and
// must exit 0 within 30 s unless the test looked at its exit code
// (stop, exited); its log is shown if the test failed.
func startCLI(t *testing.T, env Env, args ...string) *runningCmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	c := &runningCmd{name: "certkeeper " + args[0], log: &syncBuffer{}, reload: make(chan struct{}), cancel: cancel, exit: make(chan struct{})}
	env.Stdout, env.Stderr = c.log, c.log
	go func() {
		c.code = Main(withReload(ctx, c.reload), args, env)
		close(c.exit)
	}()
	t.Cleanup(func() {
		seen := c.seen
		cancel()
		select {
		case <-c.exit:
			if !seen && c.code != ExitOK {
				t.Errorf("%s: exit %d", c.name, c.code)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not stop", c.name)
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", c.name, c.log.String())
		}
	})
	return c
}

// stop interrupts the command (Ctrl-C, SIGTERM) and returns its exit
// code; the test fails if it has not exited a minute later.
func (c *runningCmd) stop(t *testing.T) int {
	t.Helper()
	c.cancel()
	code, ok := c.exited(time.Minute)
	if !ok {
		t.Fatalf("%s did not stop after the interrupt; log:\n%s", c.name, c.log.String())
	}
	return code
}

// exited reports whether the command exits within d (0: has exited),
// and its exit code.
func (c *runningCmd) exited(d time.Duration) (int, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-c.exit:
	default:
		select {
		case <-c.exit:
		case <-timer.C:
			return 0, false
		}
	}
	c.seen = true
	return c.code, true
}

// requireRunningFor fails the test if the command exits within d.
func (c *runningCmd) requireRunningFor(t *testing.T, d time.Duration, why string) {
	t.Helper()
	if code, done := c.exited(d); done {
		t.Fatalf("%s exited (code %d) %s; log:\n%s", c.name, code, why, c.log.String())
	}
}

// requireRunning fails the test if the command has exited.
func (c *runningCmd) requireRunning(t *testing.T, why string) {
	t.Helper()
	c.requireRunningFor(t, 0, why)
}

// startDaemon runs "certkeeper run -config path" until the test ends,
// when it must stop with exit 0 within 30 s.
func startDaemon(t *testing.T, path string) *runningCmd {
	t.Helper()
	return startCLI(t, Env{}, "run", "-config", path)
}

// syncBuffer is a bytes.Buffer that a running command writes to while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------
// A CA and a store.

// cliEnv is one Pebble, reached directly or behind a counting proxy, and
// a store, for running the command against.
type cliEnv struct {
	t      *testing.T
	pebble *acmetest.Pebble
	proxy  *acmeProxy // nil: the command talks to Pebble itself
	store  string
	root   string // the CA's TLS root, for -ca-root
	email  string
}

// newCLIEnv starts a Pebble that the command reaches directly.
func newCLIEnv(t *testing.T, opts acmetest.PebbleOptions) *cliEnv {
	t.Helper()
	p := acmetest.NewTestPebble(t, opts)
	dir := t.TempDir()
	root := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(root, p.TLSRootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return &cliEnv{t: t, pebble: p, store: filepath.Join(dir, "store"), root: root, email: "admin@example.test"}
}

// newLineageEnv starts a Pebble behind a proxy that counts what the
// command asks of the CA.
func newLineageEnv(t *testing.T, opts acmetest.PebbleOptions) *cliEnv {
	t.Helper()
	dir := t.TempDir()
	p := acmetest.NewTestPebble(t, opts)
	return &cliEnv{
		t: t, pebble: p, proxy: startACMEProxy(t, p, "127.0.0.1:0"),
		store: filepath.Join(dir, "store"), root: writeProxyRoot(t, dir),
		email: "admin@example.test",
	}
}

// otherCA starts another Pebble, behind its own proxy, whose certificates
// go to the same store.
func (e *cliEnv) otherCA(opts acmetest.PebbleOptions) *cliEnv {
	e.t.Helper()
	p := acmetest.NewTestPebble(e.t, opts)
	return &cliEnv{
		t: e.t, pebble: p, proxy: startACMEProxy(e.t, p, "127.0.0.1:0"),
		store: e.store, root: e.root, email: e.email,
	}
}

// ca is the CA's directory URL as the command sees it.
func (e *cliEnv) ca() string {
	if e.proxy != nil {
		return e.proxy.URL
	}
	return e.pebble.DirectoryURL
}

// httpAddr is where Pebble validates http-01 challenges.
func (e *cliEnv) httpAddr() string { return fmt.Sprintf("127.0.0.1:%d", e.pebble.HTTPPort) }

// caFlags name the CA, its root, the store and the account.
func (e *cliEnv) caFlags() []string {
	return []string{"-ca", e.ca(), "-ca-root", e.root, "-store", e.store, "-email", e.email, "-agree-tos"}
}

// cmd runs the command name with caFlags and then args.
func (e *cliEnv) cmd(name string, args ...string) cliResult { return e.cmdEnv(Env{}, name, args...) }

// cmdEnv is cmd with env (a terminal, stdin).
func (e *cliEnv) cmdEnv(env Env, name string, args ...string) cliResult {
	return runEnv(e.t.Context(), env, append(append([]string{name}, e.caFlags()...), args...)...)
}

// run is cmd for args[0] with args[1:], as exit code, stdout and stderr.
func (e *cliEnv) run(args ...string) (code int, stdout, stderr string) {
	r := e.cmd(args[0], args[1:]...)
	return r.code, r.stdout, r.stderr
}

// must is run that fails the test unless the command succeeds; it
// returns stdout.
func (e *cliEnv) must(args ...string) string {
	e.t.Helper()
	r := e.cmd(args[0], args[1:]...)
	if r.code != ExitOK {
		e.t.Fatalf("%v", r)
	}
	return r.stdout
}

// obtain runs "certkeeper obtain" with caFlags and then args.
func (e *cliEnv) obtain(args ...string) cliResult { return e.cmd("obtain", args...) }

// mustObtain is obtain that fails the test unless the command succeeds.
func (e *cliEnv) mustObtain(args ...string) cliResult {
	e.t.Helper()
	r := e.obtain(args...)
	if r.code != ExitOK {
		e.t.Fatalf("%v", r)
	}
	return r
}

// renew runs "certkeeper renew -store S" and then args: nothing else, as
// cron runs it.
func (e *cliEnv) renew(args ...string) cliResult {
	return runCLI(e.t.Context(), append([]string{"renew", "-store", e.store}, args...)...)
}

// list runs "certkeeper list -store S" and then args.
func (e *cliEnv) list(args ...string) cliResult {
	return runCLI(e.t.Context(), append([]string{"list", "-store", e.store}, args...)...)
}

// requireNoNewOrder fails the test if newOrder was called since before
// (a count from proxy.orders).
func (e *cliEnv) requireNoNewOrder(before int, r cliResult) {
	e.t.Helper()
	if n := e.proxy.orders(); n != before {
		e.t.Errorf("%d order(s) placed at the CA, want none:\n%v", n-before, r)
	}
}

// ---------------------------------------------------------------------
// The test binary as a DNS hook.

// dnsHook is the test binary run as a -dns-hook or -dns-exec program
// (see TestMain): it forwards each call to a server of the test, which
// publishes the record in Pebble's DNS (present) or removes it (cleanup).
type dnsHook struct {
	exe       string        // the program to give the command
	presented chan struct{} // receives (without blocking) at each present
	mu        sync.Mutex
	calls     []string // "op name"
}

// startDNSHook starts the hook's server for e's Pebble. It sets the
// test's environment: the test cannot be parallel.
func startDNSHook(t *testing.T, e *cliEnv) *dnsHook {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := &dnsHook{exe: exe, presented: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		op, name, value := r.Form.Get("op"), r.Form.Get("name"), r.Form.Get("value")
		h.mu.Lock()
		h.calls = append(h.calls, op+" "+name)
		h.mu.Unlock()
		switch op {
		case "present":
			e.pebble.DNS.AddTXT(name, value)
			select {
			case h.presented <- struct{}{}:
			default:
			}
		case "cleanup":
			e.pebble.DNS.RemoveTXT(name, value)
		default:
			http.Error(w, "bad op", 400)
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv(hookEnv, srv.URL)
	return h
}

// called returns the calls so far, "op name" each, and forgets them.
func (h *dnsHook) called() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.calls
	h.calls = nil
	return c
}

// waitPresented waits (a minute at most) until a record is presented.
func (h *dnsHook) waitPresented(t *testing.T, c *runningCmd) {
	t.Helper()
	select {
	case <-h.presented:
	case <-time.After(time.Minute):
		t.Fatalf("the challenge was never presented:\n%s", c.log.String())
	}
}

// ---------------------------------------------------------------------
// Ports and files.

// busyAddr is an address on 127.0.0.1 that the test listens on until it
// ends, so that nothing else can.
func busyAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// writeFile writes data to dir/name with perm and returns the path.
func writeFile(t testing.TB, dir, name, data string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	return p
}

// daemonFile is a daemon configuration: the CA at caURL (trusting root,
// if not ""), the account admin@example.test with the terms agreed, the
// store at storeDir, and then the tables of rest (TOML), in order.
func daemonFile(caURL, root, storeDir string, rest ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n[ca]\nurl = %q\n", caURL)
	if root != "" {
		fmt.Fprintf(&b, "root = %q\n", root)
	}
	fmt.Fprintf(&b, "\n[account]\nemail = \"admin@example.test\"\nagree_tos = true\n\n[store]\ndir = %q\n", storeDir)
	for _, r := range rest {
		b.WriteString("\n" + r)
	}
	return b.String()
}

// fastRenewal checks every second and retries after a second.
const fastRenewal = "[renewal]\ncheck_interval = \"1s\"\nbackoff = [\"1s\"]\n"

// unreachableCA is a CA's directory URL that nothing answers.
const unreachableCA = "https://127.0.0.1:1/dir"

// writeConfig writes a daemon configuration file to a new directory.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	return writeFile(t, t.TempDir(), "certkeeper.toml", text, 0o644)
}

// runCheck runs "certkeeper run -config PATH -check" and returns its exit
// code and its output (stdout and stderr).
func runCheck(t *testing.T, path string) (int, string) {
	t.Helper()
	r := runCLI(t.Context(), "run", "-config", path, "-check")
	return r.code, r.stdout + r.stderr
}
