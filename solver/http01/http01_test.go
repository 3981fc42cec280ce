package http01

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

const (
	token   = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
	keyAuth = token + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
)

func chalFor(tok, host string) acme.Challenge {
	return acme.Challenge{Type: acme.ChallengeHTTP01, Token: tok, KeyAuthorization: tok + ".thumb",
		Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: host}}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestWebroot(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	w := Webroot{Dir: filepath.Join(dir, "www")}
	if err := os.Mkdir(w.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	chal := acme.Challenge{Type: acme.ChallengeHTTP01, Token: token, KeyAuthorization: keyAuth}
	if err := w.Present(ctx, chal); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "www", ".well-known", "acme-challenge", token)
	got, err := os.ReadFile(path)
	if err != nil || string(got) != keyAuth {
		t.Fatalf("file: %q, %v", got, err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("file mode %v, want 0644", st.Mode().Perm())
	}
	if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm()&0o005 != 0o005 {
		t.Errorf("directory mode %v is not world-searchable", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("leftover temporary files: %v", entries)
	}
	// Served by a real file server, as nginx would.
	srv := httptest.NewServer(http.FileServer(http.Dir(w.Dir)))
	defer srv.Close()
	c := chal
	c.Identifier = acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}
	if err := SelfCheck(ctx, c, strings.TrimPrefix(srv.URL, "http://")); err != nil {
		t.Fatal(err)
	}
	if err := w.CleanUp(ctx, chal); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file still there: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); err != nil {
		t.Errorf("CleanUp removed the directory: %v", err)
	}
	if err := w.CleanUp(ctx, chal); err != nil {
		t.Errorf("second CleanUp: %v", err)
	}
	for _, bad := range []string{"../x", "a/b", "tok=en", "", "..", `a\b`} {
		c := chal
		c.Token = bad
		err := w.Present(ctx, c)
		if err == nil || !strings.Contains(err.Error(), "refusing token") {
			t.Errorf("Present(token %q) = %v, want refusal", bad, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "www", ".well-known", "x")); err == nil {
		t.Error("../x was written")
	}
	if err := (Webroot{}).Present(ctx, chal); err == nil {
		t.Error("empty Dir accepted")
	}
}

// TestWebrootNeverCreatesRoot checks that a mistyped document root is an
// error, and that neither it nor its parents are created.
func TestWebrootNeverCreatesRoot(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	chal := acme.Challenge{Type: acme.ChallengeHTTP01, Token: token, KeyAuthorization: keyAuth}
	missing := filepath.Join(dir, "typo", "html")
	err := Webroot{Dir: missing}.Present(ctx, chal)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Present under a missing root = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "typo")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the missing root's parent was created (%v)", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	if err := (Webroot{Dir: file}).Present(ctx, chal); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Present under a file = %v", err)
	}
}

// TestStandaloneListen checks that Listen holds the port across
// challenges until Close, and that Close is idempotent.
func TestStandaloneListen(t *testing.T) {
	ctx := testCtx(t)
	s := &Standalone{Addr: "127.0.0.1:0"}
	if err := s.Close(); err != nil {
		t.Fatalf("Close before Listen: %v", err)
	}
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(ctx); err != nil {
		t.Fatalf("second Listen: %v", err)
	}
	addr := s.ListenAddr()
	if addr == nil {
		t.Fatal("not listening after Listen")
	}
	chal := chalFor(token, "example.com")
	if err := s.Present(ctx, chal); err != nil {
		t.Fatal(err)
	}
	if got := s.ListenAddr(); got == nil || got.String() != addr.String() {
		t.Fatalf("Present moved the server from %v to %v", addr, got)
	}
	if err := s.CleanUp(ctx, chal); err != nil {
		t.Fatal(err)
	}
	if s.ListenAddr() == nil {
		t.Fatal("CleanUp stopped the server Listen holds")
	}
	if _, err := net.Listen("tcp", addr.String()); err == nil {
		t.Fatal("the port was free while held")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if s.ListenAddr() != nil {
		t.Fatal("still listening after Close")
	}
	l, err := net.Listen("tcp", addr.String())
	if err != nil {
		t.Fatalf("port not freed by Close: %v", err)
	}
	l.Close()
}

func TestHandler(t *testing.T) {
	ctx := testCtx(t)
	h := &Handler{Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "site")
	})}
	chal := chalFor(token, "example.com")
	if err := h.Present(ctx, chal); err != nil {
		t.Fatal(err)
	}
	do := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}
	rec := do("GET", challenge.HTTP01Path(token))
	if rec.Code != 200 || rec.Body.String() != chal.KeyAuthorization || rec.Header().Get("Content-Type") != "text/plain" {
		t.Fatalf("GET: %d %q %q", rec.Code, rec.Body, rec.Header())
	}
	if rec := do("HEAD", challenge.HTTP01Path(token)); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d %q", rec.Code, rec.Body)
	}
	if rec := do("POST", challenge.HTTP01Path(token)); rec.Body.String() != "site" {
		t.Errorf("POST went to %q, want Next", rec.Body)
	}
	if rec := do("GET", "/"); rec.Body.String() != "site" {
		t.Errorf("/ went to %q, want Next", rec.Body)
	}
	h.Next = nil
	if rec := do("GET", challenge.HTTP01Path("other")); rec.Code != 404 {
		t.Errorf("unknown token: %d", rec.Code)
	}
	if rec := do("POST", challenge.HTTP01Path(token)); rec.Code != 404 {
		t.Errorf("POST: %d", rec.Code)
	}
	// Presented twice, cleaned once: still served.
	_ = h.Present(ctx, chal)
	_ = h.CleanUp(ctx, chal)
	if rec := do("GET", challenge.HTTP01Path(token)); rec.Code != 200 {
		t.Errorf("after one of two CleanUps: %d", rec.Code)
	}
	_ = h.CleanUp(ctx, chal)
	if rec := do("GET", challenge.HTTP01Path(token)); rec.Code != 404 {
		t.Errorf("after CleanUp: %d", rec.Code)
	}
	if err := h.Present(ctx, chalFor("a/b", "x")); err == nil {
		t.Error("bad token accepted")
	}
}

// freePort returns a port on host that was free a moment ago.
func freePort(t *testing.T, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", host, err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func assertPortFree(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port not freed: %v", err)
	}
	ln.Close()
}

func TestStandalone(t *testing.T) {
	// IPv6 loopback is part of what Standalone must support: a machine
	// without ::1 fails this test rather than skipping it.
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			ctx := testCtx(t)
			addr := net.JoinHostPort(host, freePort(t, host))
			s := &Standalone{Addr: addr}
			c1, c2 := chalFor("tokenOne", "a.example"), chalFor("tokenTwo", "b.example")
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, c := range []acme.Challenge{c1, c2} {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = s.Present(ctx, c) }()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if got := s.ListenAddr().String(); got != addr {
				t.Fatalf("ListenAddr = %s, want %s", got, addr)
			}
			for _, c := range []acme.Challenge{c1, c2} {
				if err := SelfCheck(ctx, c, addr); err != nil {
					t.Fatal(err)
				}
			}
			// Port in use: a second Standalone on the same address.
			other := &Standalone{Addr: addr}
			err := other.Present(ctx, chalFor("tokenThree", "c.example"))
			if err == nil || !strings.Contains(err.Error(), "already in use") {
				t.Fatalf("second server on %s: %v", addr, err)
			}
			// The advice is for every front end: what to do, no Go names.
			if msg := err.Error(); !strings.Contains(msg, "another program serves this port: answer http-01 from its document root (webroot) or stop it") ||
				strings.Contains(msg, "Webroot") || strings.Contains(msg, "Handler") {
				t.Errorf("busy port advice: %v", err)
			}
			if err := s.CleanUp(ctx, c1); err != nil {
				t.Fatal(err)
			}
			if err := SelfCheck(ctx, c2, addr); err != nil {
				t.Fatalf("after first CleanUp, shared server: %v", err)
			}
			if err := SelfCheck(ctx, c1, addr); err == nil || !strings.Contains(err.Error(), "404") {
				t.Fatalf("cleaned-up token: %v", err)
			}
			if err := s.CleanUp(ctx, c2); err != nil {
				t.Fatal(err)
			}
			if s.ListenAddr() != nil {
				t.Error("still listening")
			}
			assertPortFree(t, addr)
			// And it starts again.
			if err := s.Present(ctx, c1); err != nil {
				t.Fatal(err)
			}
			if err := SelfCheck(ctx, c1, addr); err != nil {
				t.Fatal(err)
			}
			if err := s.CleanUp(ctx, c1); err != nil {
				t.Fatal(err)
			}
			assertPortFree(t, addr)
		})
	}
}

func TestStandalonePortZero(t *testing.T) {
	ctx := testCtx(t)
	s := &Standalone{Addr: "127.0.0.1:0"}
	c := chalFor(token, "example.com")
	if err := s.Present(ctx, c); err != nil {
		t.Fatal(err)
	}
	addr := s.ListenAddr().String()
	if err := SelfCheck(ctx, c, addr); err != nil {
		t.Fatal(err)
	}
	if err := s.CleanUp(ctx, c); err != nil {
		t.Fatal(err)
	}
	assertPortFree(t, addr)
	if err := s.CleanUp(ctx, c); err != nil {
		t.Errorf("extra CleanUp: %v", err)
	}
}

// A CleanUp of a challenge that is not presented (never presented, or
// cleaned up already) must not stop the server that other challenges
// still need.
func TestStandaloneStrayCleanUp(t *testing.T) {
	ctx := testCtx(t)
	s := &Standalone{Addr: "127.0.0.1:0"}
	c1, c2 := chalFor("tokenOne", "a.example"), chalFor("tokenTwo", "b.example")
	if err := s.Present(ctx, c1); err != nil {
		t.Fatal(err)
	}
	if err := s.Present(ctx, c2); err != nil {
		t.Fatal(err)
	}
	addr := s.ListenAddr().String()
	if err := s.CleanUp(ctx, c1); err != nil {
		t.Fatal(err)
	}
	// c1 again, and one never presented.
	if err := s.CleanUp(ctx, c1); err != nil {
		t.Fatal(err)
	}
	if err := s.CleanUp(ctx, chalFor("tokenNever", "c.example")); err != nil {
		t.Fatal(err)
	}
	if s.ListenAddr() == nil {
		t.Fatal("server stopped while c2 is still presented")
	}
	if err := SelfCheck(ctx, c2, addr); err != nil {
		t.Fatalf("c2 after stray CleanUps: %v", err)
	}
	if err := s.CleanUp(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if s.ListenAddr() != nil {
		t.Error("still listening after the last CleanUp")
	}
	assertPortFree(t, addr)
}
