package cli

// End-to-end tests of "certkeeper run" on the lineage engine: the shared
// solver configuration in the file, "run -check" reporting every problem,
// a CA unreachable at start, and one daemon per store.

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
)

// lineageDaemonConfig is a configuration for one CA at caURL, trusting
// root, with the store at storeDir, answering http-01 on httpListen, for
// the certificates certs (TOML [[certificate]] tables).
func lineageDaemonConfig(caURL, root, storeDir, httpListen, certs string) string {
	return daemonFile(caURL, root, storeDir, fastRenewal, fmt.Sprintf("[solvers.http01]\nlisten = %q\n", httpListen), certs)
}

func TestDaemonCheckAcceptsDNSExecProvider(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prog := writeFile(t, dir, "dns-exec", "#!/bin/sh\nexit 0\n", 0o755)
	path := writeConfig(t, daemonFile(unreachableCA, "", filepath.Join(dir, "store"), fmt.Sprintf(`[solvers.dns01]
provider = "exec"
exec = %q

[[certificate]]
names = ["*.exec.example.test"]
`, prog)))
	if code, out := runCheck(t, path); code != ExitOK {
		t.Errorf("run -check with [solvers.dns01] provider = \"exec\": exit %d\n%s", code, out)
	}
}

func TestDaemonCheckAcceptsDNSRFC2136Provider(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := writeFile(t, dir, "tsig.secret", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==\n", 0o600)
	path := writeConfig(t, daemonFile(unreachableCA, "", filepath.Join(dir, "store"), fmt.Sprintf(`[solvers.dns01]
provider = "rfc2136"
server = "127.0.0.1:53"
tsig_name = "certkeeper."
tsig_algorithm = "hmac-sha256"
tsig_secret_file = %q

[[certificate]]
names = ["*.rfc2136.example.test"]
`, secret)))
	if code, out := runCheck(t, path); code != ExitOK {
		t.Errorf("run -check with [solvers.dns01] provider = \"rfc2136\": exit %d\n%s", code, out)
	}
}

// run -check reports every problem of the file at once.
func TestDaemonCheckReportsEveryProblem(t *testing.T) {
	t.Parallel()
	busy := busyAddr(t)
	dir := t.TempDir()
	missingHook := filepath.Join(dir, "no-such-hook")
	path := writeConfig(t, daemonFile(unreachableCA, "", filepath.Join(dir, "store"), fmt.Sprintf(`[solvers.http01]
listen = %q

[[hook]]
command = %q

[[certificate]]
names = ["ok.example.test"]

[[certificate]]
names = ["*.wild.example.test"]
`, busy, missingHook)))
	code, out := runCheck(t, path)
	if code == ExitOK {
		t.Errorf("run -check of a file with three problems: exit 0\n%s", out)
	}
	for what, want := range map[string]string{
		"the wildcard without dns-01":      "*.wild.example.test",
		"the hook that does not exist":     missingHook,
		"the http-01 address already used": busy,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("run -check does not report %s (%s):\n%s", what, want, out)
		}
	}
}

// The CA is unreachable when the daemon starts, with nothing in the
// store yet: the daemon keeps running and obtains the certificate once
// the CA answers.
func TestDaemonStartsWithCAUnreachable(t *testing.T) {
	t.Parallel()
	p := acmetest.NewTestPebble(t, acmetest.PebbleOptions{})
	dir := t.TempDir()
	root := writeProxyRoot(t, dir)
	storeDir := filepath.Join(dir, "store")
	addr := freeAddr(t) // nothing listens there yet
	caURL := "https://" + addr + "/dir"
	path := writeConfig(t, lineageDaemonConfig(caURL, root, storeDir, fmt.Sprintf("127.0.0.1:%d", p.HTTPPort),
		"[[certificate]]\nnames = [\"late.example.test\"]\n"))

	d := startDaemon(t, path)
	// Longer than the ACME client's own retries of one request (about
	// 8 s), after which a daemon that gives up exits.
	d.requireRunningFor(t, 15*time.Second, "while the CA was unreachable")

	startACMEProxy(t, p, addr)
	eventually(t, 90*time.Second, "the certificate once the CA is reachable", func() bool {
		return storedCert(t, storeDir, caURL, "late.example.test") != nil
	})
}

// The CA is unreachable when the daemon starts: what the store holds is
// kept, and the missing certificate is obtained once the CA answers.
func TestDaemonKeepsStoreWhileCAUnreachable(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "kept.example.test")
	serial := serialOf(t, e.store, e.ca(), "kept.example.test")
	addr := e.proxy.Addr()
	e.proxy.Close()
	path := writeConfig(t, lineageDaemonConfig(e.ca(), e.root, e.store, e.httpAddr(),
		"[[certificate]]\nnames = [\"kept.example.test\"]\n\n[[certificate]]\nnames = [\"new.example.test\"]\n"))

	d := startDaemon(t, path)
	// Longer than the ACME client's own retries of one request (about
	// 8 s), after which a daemon that gives up exits.
	d.requireRunningFor(t, 15*time.Second, "while the CA was unreachable")
	if got := serialOf(t, e.store, e.ca(), "kept.example.test"); got != serial {
		t.Errorf("while the CA was unreachable the stored certificate became %q, was %s", got, serial)
	}

	startACMEProxy(t, e.pebble, addr)
	eventually(t, 90*time.Second, "the missing certificate once the CA is reachable", func() bool {
		return storedCert(t, e.store, e.ca(), "new.example.test") != nil
	})
	if got := serialOf(t, e.store, e.ca(), "kept.example.test"); got != serial {
		t.Errorf("the stored valid certificate was replaced: serial %q, was %s", got, serial)
	}
}

// A second daemon on the same directory store is refused at once.
func TestDaemonSecondInstanceRefused(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	path := writeConfig(t, lineageDaemonConfig(e.ca(), e.root, e.store, e.httpAddr(),
		"[[certificate]]\nnames = [\"single.example.test\"]\n"))
	first := startDaemon(t, path)
	eventually(t, 60*time.Second, "the first daemon's certificate", func() bool {
		return storedCert(t, e.store, e.ca(), "single.example.test") != nil
	})

	second := startCLI(t, Env{}, "run", "-config", path)
	if code, exited := second.exited(10 * time.Second); !exited {
		second.stop(t)
		t.Errorf("a second daemon on the same store was still running after 10 s; its log:\n%s", second.log.String())
	} else if msg := strings.ToLower(second.log.String()); code == ExitOK || !(strings.Contains(msg, "already") || strings.Contains(msg, "lock") || strings.Contains(msg, "another")) {
		t.Errorf("second daemon on the same store: exit %d, want non-zero with a message that the store is in use:\n%s", code, second.log.String())
	}
	first.requireRunning(t, "when a second daemon started")
}
