package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/cmd/certkeeper/internal/config"
)

// Without $HOME and $XDG_DATA_HOME there is no default store: the command
// says so rather than making ./certkeeper wherever it runs.
func TestNoDefaultStoreWithoutHome(t *testing.T) {
	t.Parallel()
	r := runCLI(t.Context(), "list")
	if r.code != ExitUsage {
		t.Errorf("list without HOME: exit %d, want %d (stderr %q)", r.code, ExitUsage, r.stderr)
	}
	if !strings.Contains(r.stderr, "no store") {
		t.Errorf("stderr %q does not say there is no store", r.stderr)
	}
	if _, err := os.Stat("certkeeper"); err == nil {
		t.Error("a ./certkeeper directory was made")
	}
}

// -eab-hmac on the command line draws a warning naming the variable.
func TestEABHMACFlagWarns(t *testing.T) {
	t.Parallel()
	r := runCLI(t.Context(), "obtain", "-store", t.TempDir(), "-ca", "http://127.0.0.1:1/dir", "-eab-kid", "k", "-eab-hmac", "bm90LWEta2V5", "-http-listen", "127.0.0.1:0", "www.example.test")
	if !strings.Contains(r.stderr, "$CERTKEEPER_EAB_HMAC") {
		t.Errorf("no warning naming $CERTKEEPER_EAB_HMAC: %q", r.stderr)
	}
}

// A store that others can write is refused; CERTKEEPER_UNTRUSTED_STORE=warn
// turns the refusal into a warning.
func TestUntrustedStoreRefused(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := mainEnv(t, nil, "list", "-store", dir); code == ExitOK || !strings.Contains(errs, "writable by another user") {
		t.Errorf("list on a world-writable store: exit %d, stderr %q", code, errs)
	}
	if code, _, errs := mainEnv(t, map[string]string{"CERTKEEPER_UNTRUSTED_STORE": "warn"}, "list", "-store", dir); code != ExitOK || !strings.Contains(errs, "warning") {
		t.Errorf("list with CERTKEEPER_UNTRUSTED_STORE=warn: exit %d, stderr %q", code, errs)
	}
}

// "run -check" reports certificate names the store cannot hold, which
// "run" would otherwise only find at start.
func TestDaemonCheckBadCertificateNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := `
[store]
dir = "` + filepath.Join(dir, "store") + `"
[solvers.http01]
webroot = "` + dir + `"
[[certificate]]
name = "../../x"
names = ["a.example.test"]
[[certificate]]
name = "a;b"
names = ["b.example.test"]
[[certificate]]
name = "a b"
names = ["c.example.test"]
`
	r := runCLI(t.Context(), "run", "-config", writeFile(t, dir, "certkeeper.toml", cfg, 0o600), "-check")
	if r.code != ExitUsage {
		t.Errorf("exit %d, want %d", r.code, ExitUsage)
	}
	for i := range 3 {
		if want := fmt.Sprintf("certificate[%d].cert-name:", i); !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// Metrics on a non-loopback address are served with a warning naming the
// exposure; on loopback, without.
func TestMetricsExposureWarning(t *testing.T) {
	t.Parallel()
	for addr, warn := range map[string]bool{"127.0.0.1:0": false, "0.0.0.0:0": true} {
		var buf bytes.Buffer
		d := &daemon{log: slog.New(slog.NewTextHandler(&buf, nil))}
		ctx, cancel := context.WithCancel(t.Context())
		cfg := &config.Config{}
		cfg.Metrics.Listen = addr
		if _, err := d.startMetrics(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		cancel()
		if got := strings.Contains(buf.String(), "non-loopback"); got != warn {
			t.Errorf("%s: warning %v, want %v:\n%s", addr, got, warn, buf.String())
		}
	}
}

// metrics.username and password_file put /metrics behind basic
// authentication.
func TestMetricsBasicAuth(t *testing.T) {
	t.Parallel()
	pw := writeFile(t, t.TempDir(), "pw", "s3cret\n", 0o600)
	var buf bytes.Buffer
	d := &daemon{log: slog.New(slog.NewTextHandler(&buf, nil))}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfg := &config.Config{}
	cfg.Metrics.Listen, cfg.Metrics.Username, cfg.Metrics.PasswordFile = "127.0.0.1:0", "prom", pw
	if _, err := d.startMetrics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	var url string
	for _, line := range strings.Split(buf.String(), "\n") {
		if i := strings.Index(line, "url=http://"); i >= 0 {
			url = strings.Fields(line[i+len("url="):])[0]
		}
	}
	if url == "" {
		t.Fatalf("no metrics URL logged:\n%s", buf.String())
	}
	for _, tc := range []struct {
		user, pass string
		want       int
	}{{"", "", http.StatusUnauthorized}, {"prom", "nope", http.StatusUnauthorized}, {"prom", "s3cret", http.StatusOK}} {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s/%s: %d, want %d", tc.user, tc.pass, resp.StatusCode, tc.want)
		}
	}
}
