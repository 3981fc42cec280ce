package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/dnsprovider/bindtest"
	"github.com/certkeeper/certkeeper/store"
)

// TestDaemonCheckReportsEverything has "run -check" find, at once, a
// wildcard without dns-01, a deploy hook and a dns01 hook that do not
// exist, a port in use and a missing webroot.
func TestDaemonCheckReportsEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	busy := busyAddr(t)
	cfg := fmt.Sprintf(`
store = %q
[solvers]
tls-listen = %q
[solvers.dns01]
hook = %q
[[hook]]
command = %q
[[certificate]]
domains = ["a.example.test"]
[[certificate]]
domains = ["*.example.test"]
[certificate.solvers]
http-webroot = %q
`, dir, busy, filepath.Join(dir, "no-dns-hook"), filepath.Join(dir, "no-deploy-hook"), filepath.Join(dir, "no-webroot"))
	r := runCLI(t.Context(), "run", "-config", writeFile(t, dir, "certkeeper.toml", cfg, 0o644), "-check")
	if r.code != ExitUsage {
		t.Errorf("exit %d, want %d", r.code, ExitUsage)
	}
	for _, want := range []string{
		"certificate[1].domains: *.example.test is a wildcard",
		"solvers.tls-listen: " + busy + " is already in use (another program serves this port",
		"solvers.dns01.hook: not an executable program",
		"certificate[1].solvers.http-webroot: the document root must exist",
		"warning: solvers.dns01.hook is deprecated",
		"hook[0].command: not an executable program",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "no-webroot")); err == nil {
		t.Error("-check created the webroot")
	}
}

// TestDaemonRFC2136 runs "certkeeper run" with [solvers.dns01] provider =
// "rfc2136": the daemon writes the records in a real BIND, checks their
// propagation, and Pebble validates a wildcard through them.
func TestDaemonRFC2136(t *testing.T) {
	t.Parallel()
	b := bindtest.Start(t, bindtest.Options{
		Keys:      []bindtest.Key{{Name: "acme-key", Algorithm: "hmac-sha256"}},
		Zones:     []bindtest.Zone{{Name: "example.test"}},
		Recursion: true,
	})
	e := newCLIEnv(t, acmetest.PebbleOptions{DNSServer: b.Addr})
	cfg := fmt.Sprintf(`
[ca]
url = %q
root = %q
[account]
agree_tos = true
[store]
dir = %q
[solvers.dns01]
provider = "rfc2136"
server = %q
tsig_name = "acme-key"
tsig_secret_env = "TEST_TSIG_SECRET"
resolvers = [%q]
ns_port = %d
propagation_interval = "100ms"
propagation_timeout = "10s"
[[certificate]]
name = "wild"
names = ["*.example.test", "example.test"]
`, e.ca(), e.root, e.store, b.Addr, b.Addr, b.Port)
	path := writeConfig(t, cfg)
	getenv := vars(map[string]string{"TEST_TSIG_SECRET": b.Keys[0].Secret})
	if r := runEnv(t.Context(), Env{Getenv: getenv}, "run", "-config", path, "-check"); r.code != ExitOK {
		t.Fatalf("-check: %v", r)
	}
	if code, out := runCheck(t, path); code != ExitUsage || !strings.Contains(out, "solvers.tsig-secret-env: $TEST_TSIG_SECRET is not set") {
		t.Errorf("-check without the secret: exit %d: %s", code, out)
	}

	startCLI(t, Env{Getenv: getenv}, "run", "-config", path)
	ctx := t.Context()
	d, err := store.NewDir(e.store)
	if err != nil {
		t.Fatal(err)
	}
	certs := &store.Certs{Store: d}
	eventually(t, time.Minute, "the wildcard certificate", func() bool {
		_, err := certs.LoadCertificate(ctx, e.pebble.DirectoryURL, "wild")
		return err == nil
	})
	eventually(t, 10*time.Second, "the TXT records' removal", func() bool { return len(b.TXT(t, "_acme-challenge.example.test")) == 0 })
}

// run -check tries to bind metrics.listen only when the file's own check
// found nothing wrong with it (told by the error's key, not its text):
// a malformed address is reported once, a taken one as taken.
func TestDaemonCheckMetricsListen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	busy := busyAddr(t)
	for _, tc := range []struct {
		listen, want string
		count        int
	}{
		{"9464", "metrics.listen: \"9464\" is not host:port", 1},
		{busy, "metrics.listen: listen tcp " + busy, 1},
	} {
		cfg := fmt.Sprintf("store = %q\n[metrics]\nlisten = %q\n[solvers]\nhttp-webroot = %q\n[[certificate]]\ndomains = [\"a.example.test\"]\n", dir, tc.listen, dir)
		r := runCLI(t.Context(), "run", "-config", writeFile(t, dir, "certkeeper.toml", cfg, 0o644), "-check")
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "metrics.listen") != tc.count {
			t.Errorf("metrics.listen %q: exit %d, stderr %q, want %q once", tc.listen, r.code, r.stderr, tc.want)
		}
	}
}

// run -check says that the store cannot be written, which the daemon's
// start would find (its lock, its states) after -check said ok.
func TestDaemonCheckUnwritableStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	if _, err := store.NewDir(st); err != nil {
		t.Fatal(err)
	}
	makeUnwritable(t, st)
	cfg := fmt.Sprintf("store = %q\n[[certificate]]\ndomains = [\"a.example.test\"]\n", st)
	r := runCLI(t.Context(), "run", "-config", writeFile(t, dir, "certkeeper.toml", cfg, 0o644), "-check")
	if r.code == ExitOK || !strings.Contains(r.stderr, "store: ") || !strings.Contains(r.stderr, "not writable") {
		t.Errorf("run -check on an unwritable store: want it reported; got\n%v", r)
	}
}
