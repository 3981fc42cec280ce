package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
)

func TestServeReverseProxy(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend says hi to %s at %s (forwarded proto %s)", r.Host, r.URL.RequestURI(), r.Header.Get("X-Forwarded-Proto"))
	}))
	defer backend.Close()
	httpsAddr := fmt.Sprintf("127.0.0.1:%d", e.pebble.TLSPort)

	startCLI(t, Env{}, "serve", "-ca", e.ca(), "-ca-root", e.root, "-store", e.store,
		"-email", "admin@example.test", "-agree-tos",
		"-d", "serve.example.test", "-proxy", backend.URL,
		"-https-addr", httpsAddr, "-http-addr", e.httpAddr())
	eventually(t, 30*time.Second, "the HTTPS listener", func() bool {
		c, err := net.DialTimeout("tcp", httpsAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e.pebble.Roots()},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", httpsAddr)
		},
	}}
	resp, err := hc.Get("https://serve.example.test/some/path?x=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "backend says hi to serve.example.test at /some/path?x=1 (forwarded proto https)"; string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
	// The certificate is in the store, for the next start and for list.
	if out := e.must("list"); !strings.Contains(out, "serve.example.test") {
		t.Errorf("list:\n%s", out)
	}
}

func TestServeUsage(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	file := writeFile(t, root, "f", "", 0o644)
	for _, args := range [][]string{
		{"serve", "-proxy", "http://127.0.0.1:1"},
		{"serve", "-d", "a.example.test"},
		{"serve", "-d", "a.example.test", "-proxy", "http://127.0.0.1:1", "-root", root},
		{"serve", "-d", "a.example.test", "-proxy", "ftp://x"},
		{"serve", "-d", "a.example.test", "-root", file},
		{"serve", "-d", "bad..name", "-root", root},
	} {
		if r := runCLI(t.Context(), args...); r.code != ExitUsage {
			t.Errorf("%v: exit %d (%s)", args, r.code, r.stderr)
		}
	}
}
