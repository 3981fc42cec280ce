package cli

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

func daemonConfig(e *cliEnv, hookDir, metrics, extra string) string {
	return daemonFile(e.ca(), e.root, e.store, fmt.Sprintf("[metrics]\nlisten = %q\n", metrics), `[renewal]
renew_fraction = 0.75
check_interval = "1s"
backoff = ["1s"]
`, fmt.Sprintf(`[solvers.http01]
listen = %q

[[hook]]
command = "/bin/sh"
args = ["-c", "env | grep '^CERTKEEPER_' | sort > \"$0/$CERTKEEPER_NAME.$CERTKEEPER_EVENT\"", %q]

[defaults]
profile = "short"

[[certificate]]
names = ["daemon.example.test", "www.daemon.example.test"]
%s`, e.httpAddr(), hookDir, extra))
}

func TestDaemon(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, acmetest.PebbleOptions{Profiles: map[string]acmetest.Profile{
		"short": {ValidityPeriod: 20 * time.Second},
	}})
	dir := t.TempDir()
	hookDir := filepath.Join(dir, "hooks")
	if err := os.Mkdir(hookDir, 0o755); err != nil {
		t.Fatal(err)
	}
	metricsAddr := freeAddr(t)
	cfgPath := writeFile(t, dir, "certkeeper.toml", daemonConfig(e, hookDir, metricsAddr, ""), 0o644)
	if code, out := runCheck(t, cfgPath); code != ExitOK || !strings.Contains(out, ": ok, 1 certificate\n") {
		t.Errorf("-check: exit %d, %q", code, out)
	}

	daemon := startCLI(t, Env{}, "run", "-config", cfgPath)
	stderr, reload, ctx := daemon.log, daemon.reload, t.Context()
	d, err := store.NewDir(e.store)
	if err != nil {
		t.Fatal(err)
	}
	certs := &store.Certs{Store: d}
	load := func(name string) *store.CertRecord {
		r, err := certs.LoadCertificate(ctx, e.pebble.DirectoryURL, name)
		if err != nil {
			return nil
		}
		return &r
	}
	eventually(t, time.Minute, "the first certificate", func() bool { return load("daemon.example.test") != nil })
	first := load("daemon.example.test")
	firstLeaf := leafOf(t, first.ChainPEM)

	// The deploy hook ran with the certificate's environment.
	hookFile := filepath.Join(hookDir, "daemon.example.test.obtained")
	// The shell creates the file before sort writes it: wait for content.
	eventually(t, 30*time.Second, "the obtained hook", func() bool { fi, err := os.Stat(hookFile); return err == nil && fi.Size() > 0 })
	hookEnv := readEnvFile(t, hookFile)
	for k, v := range map[string]string{
		"CERTKEEPER_EVENT": "obtained",
		"CERTKEEPER_NAME":  "daemon.example.test",
		"CERTKEEPER_NAMES": "daemon.example.test,www.daemon.example.test",
	} {
		if hookEnv[k] != v {
			t.Errorf("hook saw %s=%q, want %q", k, hookEnv[k], v)
		}
	}
	if p := hookEnv["CERTKEEPER_CERT_PATH"]; p == "" || !fileHasCert(p) {
		t.Errorf("hook saw CERTKEEPER_CERT_PATH=%q", p)
	}
	if hookEnv["CERTKEEPER_KEY_PATH"] == "" || hookEnv["CERTKEEPER_NOT_AFTER"] == "" {
		t.Errorf("hook environment %v", hookEnv)
	}

	// A bad file on reload is logged and the running configuration kept.
	writeFile(t, dir, "certkeeper.toml", daemonConfig(e, hookDir, metricsAddr, "colour = \"blue\"\n"), 0o644)
	reload <- struct{}{}
	eventually(t, 10*time.Second, "the reload error", func() bool { return strings.Contains(stderr.String(), "certificate[0].colour: unknown key") })

	// Reload adds a name.
	writeFile(t, dir, "certkeeper.toml", daemonConfig(e, hookDir, metricsAddr, "[[certificate]]\nnames = [\"added.example.test\"]\n"), 0o644)
	reload <- struct{}{}
	eventually(t, time.Minute, "the certificate added by reload", func() bool { return load("added.example.test") != nil })

	// The short-lived certificate is renewed without help.
	eventually(t, time.Minute, "a renewal", func() bool {
		r := load("daemon.example.test")
		return r != nil && leafOf(t, r.ChainPEM).SerialNumber.Cmp(firstLeaf.SerialNumber) != 0
	})
	eventually(t, 30*time.Second, "the renewed hook", func() bool {
		_, err := os.Stat(filepath.Join(hookDir, "daemon.example.test.renewed"))
		return err == nil
	})

	// Prometheus metrics on the configured address.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`certkeeper_certificate_not_after_seconds{name="daemon.example.test"}`, `certkeeper_acme_requests_total`} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	// list shows the manager's view.
	var entries []listEntry
	if err := json.Unmarshal([]byte(e.must("list", "-json")), &entries); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, le := range entries {
		if le.Name == "daemon.example.test" {
			found = true
			if le.NextRenewal == nil || le.NextRenewal.IsZero() {
				t.Errorf("list: no next renewal: %+v", le)
			}
		}
	}
	if !found {
		t.Errorf("list: %+v", entries)
	}
	if table := e.must("list"); !strings.Contains(table, "NEXT RENEWAL") || !strings.Contains(table, "LAST ERROR") {
		t.Errorf("list table:\n%s", table)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func leafOf(t *testing.T, chainPEM []byte) *x509.Certificate {
	t.Helper()
	chain, err := keys.ParseCertificates(chainPEM)
	if err != nil {
		t.Fatal(err)
	}
	return chain[0]
}

func fileHasCert(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	_, err = keys.ParseCertificates(data)
	return err == nil
}

func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func TestDaemonBadConfig(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "[store]\ndir = \"x\"\n[renewal]\ncheck_interval = \"soon\"\n")
	if r := runCLI(t.Context(), "run", "-config", path); r.code != ExitUsage || !strings.Contains(r.stderr, "renewal.check_interval") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCLI(t.Context(), "run"); r.code != ExitUsage {
		t.Errorf("run without -config: exit %d", r.code)
	}
}
