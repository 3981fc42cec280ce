package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/store"
	"github.com/miekg/dns"
)

// list, renew and revoke of names the store does not have say so in one
// wording, without Go's "file does not exist", every line of the message
// saying which command it is from.
func TestNoCertificateOneWording(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "have.example.test")
	orders := e.proxy.orders()
	for _, tc := range []struct {
		cmd   string
		r     cliResult
		names []string
	}{
		{"list", e.list("nope1.example.test", "nope2.example.test"), []string{"nope1.example.test", "nope2.example.test"}},
		{"renew", e.renew("-force", "-http-listen", e.httpAddr(), "nope1.example.test", "nope2.example.test"), []string{"nope1.example.test", "nope2.example.test"}},
		{"revoke", runCLI(t.Context(), "revoke", "-store", e.store, "nope1.example.test"), []string{"nope1.example.test"}},
	} {
		if tc.r.code == ExitOK || strings.Contains(tc.r.stderr, "file does not exist") {
			t.Errorf("%s: want a failure without Go's words; got\n%v", tc.cmd, tc.r)
		}
		for _, n := range tc.names {
			if !strings.Contains(tc.r.stderr, "certkeeper "+tc.cmd+": the store has no certificate "+n+"\n") {
				t.Errorf("%s: want the line %q; got\n%v", tc.cmd, "certkeeper "+tc.cmd+": the store has no certificate "+n, tc.r)
			}
		}
		for _, line := range strings.Split(strings.TrimSuffix(tc.r.stderr, "\n"), "\n") {
			if !strings.HasPrefix(line, "certkeeper "+tc.cmd+": ") {
				t.Errorf("%s: line %q lacks the prefix", tc.cmd, line)
			}
		}
	}
	e.requireNoNewOrder(orders, e.list())
}

// A key type that is none is refused by its flag's name, exit 2, before
// anything is asked of the CA (here one that does not listen: asking it
// would fail otherwise).
func TestUnknownKeyTypeNamesFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := "https://127.0.0.1:1/dir"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"obtain", "-store", dir, "-ca", ca, "-key-type", "ec999", "a.example.test"}, "certkeeper obtain: -key-type ec999: unknown key type (known: ec256, ec384, rsa2048, rsa3072, rsa4096)\n"},
		{[]string{"obtain", "-store", dir, "-ca", ca, "-account-key-type", "ec999", "-http-listen", "127.0.0.1:0", "a.example.test"}, "certkeeper obtain: -account-key-type ec999: unknown key type (known: "},
		{[]string{"renew", "-store", dir, "-ca", ca, "-key-type", "ec999"}, "certkeeper renew: -key-type ec999: unknown key type (known: "},
	} {
		r := runCLI(t.Context(), tc.args...)
		if r.code != ExitUsage || !strings.HasPrefix(r.stderr, tc.want) || strings.Contains(r.stderr, `"ec999"`) {
			t.Errorf("want exit 2 and %q; got\n%v", tc.want, r)
		}
	}
}

// A second daemon on a store is refused in one plain sentence naming the
// first one's process, the store lock's own words not repeated.
func TestSecondDaemonOneSentence(t *testing.T) {
	t.Parallel()
	storeDir := filepath.Join(t.TempDir(), "store")
	d, err := store.NewDir(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := d.TryLock(t.Context(), daemonLock)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	path := writeConfig(t, unreachableConfig(t, storeDir, "[[certificate]]\nnames = [\"a.example.test\"]\n"))
	r := runCLI(t.Context(), "run", "-config", path)
	want := fmt.Sprintf("certkeeper run: another certkeeper daemon (pid %d on ", os.Getpid())
	if r.code == ExitOK || !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "store: lock") ||
		!strings.Contains(r.stderr, "is already running on the store "+storeDir+": stop it first, or give this one another store\n") {
		t.Errorf("second daemon: want one sentence starting %q; got\n%v", want, r)
	}
}

// renew of a certificate due and waiting after a failed renewal says so,
// not "not due" (the binary, against Pebble).
func TestRenewSaysWaitingAfterFailure(t *testing.T) {
	t.Parallel()
	// Certificates of a second: due as soon as obtained.
	e := newLineageEnv(t, acmetest.PebbleOptions{Profiles: map[string]acmetest.Profile{
		"default": {Description: "the default"}, "second": {Description: "a second", ValidityPeriod: time.Second},
	}})
	e.mustObtain("-http-listen", e.httpAddr(), "-profile", "second", "wait.example.test")
	// The challenge served where Pebble does not look: the renewal fails.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := l.Addr().String()
	l.Close()
	// Pebble v2.10 reuses a valid authorization about once in a hundred
	// orders even with authorization reuse off (acmetest's AuthzReuse):
	// the order is then ready at once and no challenge is needed, so the
	// renewal is tried again (a certificate of a second is due at once).
	for try := 1; ; try++ {
		r := e.renew("-force", "-http-listen", elsewhere, "wait.example.test")
		if r.code != ExitOK {
			break
		}
		if try == 3 || !strings.Contains(r.stderr, "status=ready") {
			t.Fatalf("renew -force with the challenge elsewhere: want a failure; got\n%v", r)
		}
	}
	orders := e.proxy.orders()
	r := e.bin("renew", "-http-listen", e.httpAddr(), "wait.example.test")
	if r.code != ExitOK || !strings.Contains(r.stdout, "wait.example.test: waiting after a failure until ") ||
		!strings.Contains(r.stdout, "; -force retries now") || strings.Contains(r.stdout, "not due") {
		t.Errorf("renew after a failed renewal: want it to say it waits after a failure; got\n%v", r)
	}
	e.requireNoNewOrder(orders, r)
}

// A dns-01 order whose zone cannot be found (the resolver answers no SOA
// query) names the flags that would do (the binary, against Pebble).
func TestDNSZoneNotFoundNamesFlags(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNotImplemented)
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	r := e.bin("obtain", "-challenge", "dns-01", "-dns-provider", "exec", "-dns-exec", "/bin/true",
		"-dns-resolver", pc.LocalAddr().String(), "zone.example.test")
	for _, flag := range []string{"(-dns-zone)", "(-dns-check-server)", "(-dns-no-propagation-check)"} {
		if r.code == ExitOK || !strings.Contains(r.stderr, flag) {
			t.Errorf("want a failure naming %s; got\n%v", flag, r)

		}
	}
}

// run -check names, for each unknown key, the file, its line, where it
// is (certificate[1] for the second certificate) and the known key
// nearest to it.
func TestRunCheckUnknownKeys(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "store = \""+filepath.Join(t.TempDir(), "store")+"\"\nemial = \"a@example.test\"\n"+
		"[renewal]\ncheck-intervall = \"1h\"\n[[certificate]]\nnames = [\"a.example.test\"]\n[[certificate]]\nnames = [\"b.example.test\"]\nkey-typ = \"ec256\"\n")
	r := runCLI(t.Context(), "run", "-check", "-config", path)
	for _, want := range []string{
		"certkeeper run: " + path + ": line 2: emial: unknown key (did you mean email?)\n",
		"certkeeper run: " + path + ": line 4: renewal.check-intervall: unknown key (did you mean check-interval?)\n",
		"certkeeper run: " + path + ": line 9: certificate[1].key-typ: unknown key (did you mean key-type?)\n",
	} {
		if r.code != ExitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("want exit 2 and %q; got\n%v", want, r)
		}
	}
}

// bin runs the built certkeeper binary with the command name, caFlags and
// then args, in an environment of PATH alone.
func (e *cliEnv) bin(name string, args ...string) cliResult {
	e.t.Helper()
	args = append(append([]string{name}, e.caFlags()...), args...)
	ctx, cancel := context.WithTimeout(e.t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, certkeeperBinary(e.t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.t.TempDir()}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	code := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return cliResult{args: args, code: code, stdout: out.String(), stderr: errb.String()}
}

// An empty -store where there is a default says that -store is empty,
// not that there is no default; a -key for revoke without -with-cert-key
// is refused rather than read and ignored (the account key would sign).
func TestEmptyStoreAndIgnoredKeySaySo(t *testing.T) {
	code, _, stderr := mainEnv(t, map[string]string{"HOME": t.TempDir()}, "list", "-store=")
	if code != ExitUsage || !strings.Contains(stderr, "-store (or $CERTKEEPER_STORE) is empty") || strings.Contains(stderr, "no default without") {
		t.Errorf("list -store= with $HOME set: exit %d, %q; want a usage error saying -store is empty", code, stderr)
	}
	code, _, stderr = mainEnv(t, nil, "list", "-store=")
	if code != ExitUsage || !strings.Contains(stderr, "there is no default without $HOME") {
		t.Errorf("list -store= without $HOME: exit %d, %q; want a usage error saying there is no default", code, stderr)
	}
	dir := t.TempDir()
	key := writeFile(t, dir, "key.pem", "not read\n", 0o600)
	cert := writeFile(t, dir, "cert.pem", "not read\n", 0o600)
	code, _, stderr = mainEnv(t, map[string]string{"HOME": dir}, "revoke", "-store", filepath.Join(dir, "store"), "-cert", cert, "-key", key)
	if code != ExitUsage || !strings.Contains(stderr, "give -with-cert-key too") {
		t.Errorf("revoke -cert -key without -with-cert-key: exit %d, %q; want a usage error naming -with-cert-key", code, stderr)
	}
}
