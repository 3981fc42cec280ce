package cli

// Tests of the daemon on the engine beyond daemon_lineage_test.go: what it
// logs when the CA is unreachable, whom a refused second daemon names,
// certificates of the store that are not in the file.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/store"
)

// unreachableConfig is a configuration whose CA nothing answers, with
// the certificates certs (TOML).
func unreachableConfig(t *testing.T, storeDir, certs string) string {
	return daemonFile("https://"+freeAddr(t)+"/dir", "", storeDir, fastRenewal, fmt.Sprintf("[solvers.http01]\nwebroot = %q\n", t.TempDir()), certs)
}

// The daemon says that the CA is unreachable, and a second daemon on its
// store is refused naming the first one's process; once the first stops,
// the store is free again.
func TestDaemonUnreachableCALogAndLockHolder(t *testing.T) {
	if testing.Short() {
		t.Skip("integration tier (waits the real retry schedule, about 20 s, until the CA is declared unreachable): skipped under -short")
	}
	t.Parallel()
	storeDir := filepath.Join(t.TempDir(), "store")
	path := writeConfig(t, unreachableConfig(t, storeDir, "[[certificate]]\nnames = [\"a.example.test\"]\n"))
	daemon := startDaemon(t, path)
	eventually(t, 60*time.Second, "the log saying that the CA is unreachable", func() bool {
		return strings.Contains(daemon.log.String(), "the CA is unreachable")
	})

	r := runCLI(t.Context(), "run", "-config", path)
	if out, want := r.stdout+r.stderr, fmt.Sprintf("pid %d", os.Getpid()); r.code == ExitOK || !strings.Contains(out, want) || !strings.Contains(out, "another certkeeper daemon") {
		t.Errorf("second daemon: exit %d, %q; want a failure naming the first (%s)", r.code, out, want)
	}

	if code := daemon.stop(t); code != ExitOK {
		t.Errorf("daemon exit %d\n%s", code, daemon.log.String())
	}
	d, err := store.NewDir(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := d.TryLock(t.Context(), daemonLock)
	if err != nil {
		t.Fatalf("the daemon's lock is still held after it stopped: %v", err)
	}
	unlock()
}

// A certificate removed from the file keeps its lineage, so the daemon
// keeps renewing it as a certificate of the store, and says so.
func TestDaemonReloadKeepsLineageOfRemovedCertificate(t *testing.T) {
	t.Parallel()
	storeDir := filepath.Join(t.TempDir(), "store")
	text := unreachableConfig(t, storeDir, "[[certificate]]\nnames = [\"kept.example.test\"]\n\n[[certificate]]\nnames = [\"removed.example.test\"]\n")
	path := writeConfig(t, text)
	d := startDaemon(t, path)
	eventually(t, 30*time.Second, "the daemon to start", func() bool { return strings.Contains(d.log.String(), "daemon started") })
	if err := os.WriteFile(path, []byte(strings.Replace(text, "[[certificate]]\nnames = [\"removed.example.test\"]\n", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	d.reload <- struct{}{}
	eventually(t, 30*time.Second, "the reload", func() bool { return strings.Contains(d.log.String(), "configuration reloaded") })
	if code := d.stop(t); code != ExitOK {
		t.Errorf("daemon exit %d", code)
	}
	out := d.log.String()
	if !strings.Contains(out, "also managing the store's certificates that are not in the file") || !strings.Contains(out, "names=[removed.example.test]") ||
		!strings.Contains(out, "from_file=1 from_store=1") {
		t.Errorf("the certificate removed from the file is not managed from the store:\n%s", out)
	}
	if strings.Contains(out, "no longer managed") {
		t.Errorf("a certificate with a lineage stopped being managed:\n%s", out)
	}
}

// A certificate obtained with "certkeeper obtain" and not in the file is
// renewed by the daemon as it was obtained, with the file's own.
func TestDaemonRenewsObtainedCertificates(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{Profiles: map[string]acmetest.Profile{
		"short": {ValidityPeriod: 20 * time.Second},
	}})
	e.mustObtain("-http-listen", e.httpAddr(), "-profile", "short", "cli.example.test")
	first := serialOf(t, e.store, e.ca(), "cli.example.test")
	path := writeConfig(t, lineageDaemonConfig(e.ca(), e.root, e.store, e.httpAddr(),
		"[[certificate]]\nnames = [\"file.example.test\"]\n"))
	d := startDaemon(t, path)
	eventually(t, 60*time.Second, "the file's certificate", func() bool {
		return storedCert(t, e.store, e.ca(), "file.example.test") != nil
	})
	eventually(t, 90*time.Second, "the renewal of the certificate obtained with obtain", func() bool {
		s := serialOf(t, e.store, e.ca(), "cli.example.test")
		return s != "" && s != first
	})
	if !strings.Contains(d.log.String(), "names=[cli.example.test]") {
		t.Errorf("the daemon does not say that it manages cli.example.test from the store:\n%s", d.log.String())
	}
	l, err := openCerts(t, e.store).LoadLineage(t.Context(), e.ca(), "cli.example.test")
	if err != nil || l.Profile != "short" {
		t.Errorf("lineage of cli.example.test: %+v, %v", l, err)
	}
}

// serve starts, and serves, while its CA cannot be reached: the account
// is registered at the first order, which is retried.
func TestServeStartsWithCAUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("integration tier (waits the real retry schedule, about 20 s, until the CA is declared unreachable): skipped under -short")
	}
	t.Parallel()
	dir := t.TempDir()
	httpsAddr := freeAddr(t)
	c := startCLI(t, Env{}, "serve", "-ca", "https://"+freeAddr(t)+"/dir", "-store", filepath.Join(dir, "store"),
		"-email", "admin@example.test", "-agree-tos", "-d", "serve.example.test", "-root", dir,
		"-https-addr", httpsAddr, "-http-addr", "-")
	eventually(t, 30*time.Second, "the HTTPS listener", func() bool {
		c, err := net.DialTimeout("tcp", httpsAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	eventually(t, 60*time.Second, "the log saying that the CA is unreachable", func() bool {
		return strings.Contains(c.log.String(), "the CA is unreachable")
	})
	c.requireRunning(t, "while the CA was unreachable")
	if code := c.stop(t); code != ExitOK {
		t.Errorf("serve: exit %d\n%s", code, c.log.String())
	}
}
