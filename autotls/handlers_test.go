package autotls

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The proxy replaces every forwarding header a client sent with its own.
func TestReverseProxyForwardingHeaders(t *testing.T) {
	var got http.Header
	var gotHost string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotHost = r.Header.Clone(), r.Host
	}))
	defer backend.Close()
	u, _ := url.Parse(backend.URL)
	front := httptest.NewServer(ReverseProxy(u))
	defer front.Close()
	req, _ := http.NewRequest("GET", front.URL+"/x", nil)
	req.Host = "www.example.com"
	for _, h := range forwardingHeaders {
		req.Header.Set(h, "spoofed")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for h, v := range got {
		if strings.Contains(strings.Join(v, ","), "spoofed") {
			t.Errorf("the backend got the client's %s: %q", h, v)
		}
	}
	if got.Get("X-Forwarded-For") != "127.0.0.1" || got.Get("X-Real-IP") != "127.0.0.1" || got.Get("X-Forwarded-Proto") != "http" || got.Get("X-Forwarded-Host") != "www.example.com" || gotHost != "www.example.com" {
		t.Errorf("backend headers %v, Host %q", got, gotHost)
	}
}

// A host the Config does not serve, or not covered by the connection's
// certificate, gets 421.
func TestHostGuard421(t *testing.T) {
	cfg := &Config{Manager: newTestManager(t)}
	s := &state{cfg: cfg, names: map[string]bool{"www.example.com": true, "other.example.com": true}}
	h := s.hostGuard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, tc := range []struct {
		host, sni string
		want      int
	}{
		{"www.example.com", "", http.StatusOK},
		{"www.example.com:443", "www.example.com", http.StatusOK},
		{"evil.example", "", http.StatusMisdirectedRequest},
		{"evil.example", "www.example.com", http.StatusMisdirectedRequest},
		// Served, but not by the certificate of this connection.
		{"other.example.com", "www.example.com", http.StatusMisdirectedRequest},
	} {
		r := httptest.NewRequest("GET", "https://x/", nil)
		r.Host = tc.host
		r.TLS = nil
		if tc.sni != "" {
			r.TLS = &tls.ConnectionState{ServerName: tc.sni}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("Host %q SNI %q: %d, want %d", tc.host, tc.sni, w.Code, tc.want)
		}
	}
}

// Bodies are bounded in size, and a body trickled slowly is cut off by
// the read timeout.
func TestBodyLimits(t *testing.T) {
	h := limitBody(10, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		}
	}))
	for _, n := range []int{5, 11} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/", bytes.NewReader(make([]byte, n))))
		if (n > 10) != (w.Code == http.StatusRequestEntityTooLarge) {
			t.Errorf("%d bytes: %d", n, w.Code)
		}
	}

	// A server configured as Serve configures it.
	done := make(chan error, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		done <- err
	}))
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	// The client trickles the body, a byte every 50 ms (5 s for the 100),
	// until the handler stops reading: only a read timeout stops it
	// before the body is whole.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	failsafe := time.After(time.Minute)
	for sent := 0; ; {
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("a trickled body was read whole (%d bytes sent) past the read timeout", sent)
			}
			return
		case <-tick.C:
			if sent < 100 {
				c.Write([]byte("a"))
				sent++
			}
		case <-failsafe:
			t.Fatal("the handler is still reading a trickled body")
		}
	}
}

// The file server stays inside its root, hides dotfiles and lists no
// directory unless asked.
func TestFileServerStaysInRoot(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "www")
	for _, d := range []string{root, filepath.Join(root, "sub"), filepath.Join(root, "withindex")} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(base, "secret.txt"), []byte("outside"), 0o644)
	os.WriteFile(filepath.Join(root, "index.html"), []byte("home"), 0o644)
	os.WriteFile(filepath.Join(root, "withindex", "index.html"), []byte("idx"), 0o644)
	os.WriteFile(filepath.Join(root, ".env"), []byte("SECRET=x"), 0o644)
	os.WriteFile(filepath.Join(root, "sub", "a.txt"), []byte("a"), 0o644)
	if err := os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(root, "link.txt")); err != nil {
		t.Fatal(err)
	}
	h, err := FileServer(root, FileServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	get := func(h http.Handler, p string) (int, string) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = p
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	for p, want := range map[string]int{
		"/":                  http.StatusOK,
		"/sub/a.txt":         http.StatusOK,
		"/withindex/":        http.StatusOK,
		"/sub/":              http.StatusNotFound,
		"/.env":              http.StatusNotFound,
		"/link.txt":          http.StatusNotFound,
		"/../secret.txt":     http.StatusNotFound,
		"/sub/../.env":       http.StatusNotFound,
		"/%2e%2e/secret.txt": http.StatusNotFound,
	} {
		code, body := get(h, p)
		if code != want && !(want == http.StatusNotFound && code >= 400) {
			t.Errorf("%s: %d, want %d", p, code, want)
		}
		if strings.Contains(body, "outside") || strings.Contains(body, "SECRET") {
			t.Errorf("%s: served %q", p, body)
		}
	}
	h, _ = FileServer(root, FileServerOptions{Listing: true, Dotfiles: true})
	if code, body := get(h, "/sub/"); code != http.StatusOK || !strings.Contains(body, "a.txt") {
		t.Errorf("listing asked for: %d %q", code, body)
	}
	if code, _ := get(h, "/.env"); code != http.StatusOK {
		t.Errorf("dotfiles asked for: %d", code)
	}
}

func TestTLSConfigVersionsAndSuites(t *testing.T) {
	cfg := &Config{Manager: newTestManager(t)}
	tc := cfg.TLSConfig()
	if tc.MinVersion != tls.VersionTLS12 || len(tc.CipherSuites) == 0 {
		t.Fatalf("MinVersion %x, suites %v", tc.MinVersion, tc.CipherSuites)
	}
	for _, id := range tc.CipherSuites {
		name := tls.CipherSuiteName(id)
		if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20")) {
			t.Errorf("suite %s allowed", name)
		}
	}
}
