package tlsalpn01

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func chalFor(typ acme.IdentifierType, value, keyAuth string) acme.Challenge {
	return acme.Challenge{Type: acme.ChallengeTLSALPN01, Token: "tok", KeyAuthorization: keyAuth,
		Identifier: acme.Identifier{Type: typ, Value: value}}
}

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

func dial(addr, sni string, protos ...string) (*tls.ConnectionState, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: sni, NextProtos: protos, InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	cs := conn.ConnectionState()
	return &cs, nil
}

func TestStandalone(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			ctx := testCtx(t)
			addr := net.JoinHostPort(host, freePort(t, host))
			s := &Standalone{Addr: addr}
			dnsChal := chalFor(acme.IdentifierDNS, "example.com", "ka-dns")
			ipChal := chalFor(acme.IdentifierIP, host, "ka-ip")
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, c := range []acme.Challenge{dnsChal, ipChal} {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = s.Present(ctx, c) }()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			for _, c := range []acme.Challenge{dnsChal, ipChal} {
				if err := SelfCheck(ctx, addr, c); err != nil {
					t.Fatalf("%s: %v", c.Identifier.Value, err)
				}
			}
			// Everything but an acme-tls/1 handshake for a presented name
			// is refused.
			for _, tc := range []struct {
				sni    string
				protos []string
			}{
				{"example.com", nil},
				{"example.com", []string{"h2", "http/1.1"}},
				{"other.example", []string{challenge.ALPNProto}},
			} {
				if cs, err := dial(addr, tc.sni, tc.protos...); err == nil {
					t.Errorf("handshake SNI %s ALPN %v succeeded (negotiated %q)", tc.sni, tc.protos, cs.NegotiatedProtocol)
				}
			}
			if err := (&Standalone{Addr: addr}).Present(ctx, dnsChal); err == nil || !strings.Contains(err.Error(), "already in use") ||
				!strings.Contains(err.Error(), "another program serves this port: have it answer tls-alpn-01") ||
				strings.Contains(err.Error(), "Responder") || strings.Contains(err.Error(), "Files") {
				t.Errorf("second listener: %v", err)
			}
			if err := s.CleanUp(ctx, dnsChal); err != nil {
				t.Fatal(err)
			}
			if err := SelfCheck(ctx, addr, dnsChal); err == nil {
				t.Error("cleaned-up challenge still answered")
			}
			if err := SelfCheck(ctx, addr, ipChal); err != nil {
				t.Fatalf("shared listener after first CleanUp: %v", err)
			}
			if err := s.CleanUp(ctx, ipChal); err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("port not freed: %v", err)
			}
			ln.Close()
		})
	}
}

// selfSigned makes an ordinary server certificate for name.
func selfSigned(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestWrapConfig(t *testing.T) {
	ctx := testCtx(t)
	site := selfSigned(t, "example.com")
	orig := &tls.Config{Certificates: []tls.Certificate{site}, NextProtos: []string{"http/1.1"}}
	var m Responder
	wrapped := m.WrapConfig(orig)
	if len(orig.NextProtos) != 1 || orig.GetCertificate != nil {
		t.Fatal("WrapConfig changed the original config")
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", wrapped)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	addr := ln.Addr().String()
	chal := chalFor(acme.IdentifierDNS, "example.com", "ka")
	if err := SelfCheck(ctx, addr, chal); err == nil {
		t.Fatal("validation succeeded before Present")
	}
	if err := m.Present(ctx, chal); err != nil {
		t.Fatal(err)
	}
	if err := SelfCheck(ctx, addr, chal); err != nil {
		t.Fatal(err)
	}
	cs, err := dial(addr, "example.com", "http/1.1")
	if err != nil {
		t.Fatal(err)
	}
	if cs.NegotiatedProtocol != "http/1.1" || cs.PeerCertificates[0].Subject.CommonName != "example.com" {
		t.Fatalf("normal client got %q, %v", cs.NegotiatedProtocol, cs.PeerCertificates[0].Subject)
	}
	if err := m.CleanUp(ctx, chal); err != nil {
		t.Fatal(err)
	}
	if err := SelfCheck(ctx, addr, chal); err == nil {
		t.Fatal("validation succeeded after CleanUp")
	}

	// The original's GetCertificate and GetConfigForClient are honoured.
	var calls atomic.Int32
	dyn := m.WrapConfig(&tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			calls.Add(1)
			return &site, nil
		}}, nil
	}})
	ln2, err := tls.Listen("tcp", "127.0.0.1:0", dyn)
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	go func() {
		for {
			c, err := ln2.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	_ = m.Present(ctx, chal)
	defer m.CleanUp(ctx, chal)
	if err := SelfCheck(ctx, ln2.Addr().String(), chal); err != nil {
		t.Fatalf("through GetConfigForClient: %v", err)
	}
	if _, err := dial(ln2.Addr().String(), "example.com"); err != nil || calls.Load() != 1 {
		t.Fatalf("normal handshake through GetConfigForClient: %v, %d calls", err, calls.Load())
	}
}

func TestFiles(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	var reloads atomic.Int32
	f := &Files{
		CertPath: filepath.Join(dir, "certs", "{name}.crt"),
		KeyPath:  filepath.Join(dir, "keys", "{name}.key"),
		Reload:   func(context.Context) error { reloads.Add(1); return nil },
	}
	chal := chalFor(acme.IdentifierIP, "2001:db8::1", "ka")
	if err := f.Present(ctx, chal); err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "certs", "2001_db8__1.crt"), filepath.Join(dir, "keys", "2001_db8__1.key")
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyCertificate(pair.Leaf, chal.Identifier, "ka"); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(keyPath); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", st.Mode().Perm())
	}
	if st, _ := os.Stat(certPath); st.Mode().Perm() != 0o644 {
		t.Errorf("cert mode %v", st.Mode().Perm())
	}
	if reloads.Load() != 1 {
		t.Errorf("%d reloads after Present", reloads.Load())
	}
	if err := f.CleanUp(ctx, chal); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there", p)
		}
	}
	if reloads.Load() != 2 {
		t.Errorf("%d reloads after CleanUp", reloads.Load())
	}

	// Without {name}, one challenge at a time.
	one := &Files{CertPath: filepath.Join(dir, "a.crt"), KeyPath: filepath.Join(dir, "a.key")}
	if err := one.Present(ctx, chalFor(acme.IdentifierDNS, "a.example", "1")); err != nil {
		t.Fatal(err)
	}
	if err := one.Present(ctx, chalFor(acme.IdentifierDNS, "b.example", "2")); err == nil || !strings.Contains(err.Error(), "{name}") {
		t.Errorf("second challenge on one path: %v", err)
	}
	// A failed reload undoes Present.
	bad := &Files{CertPath: filepath.Join(dir, "b.crt"), KeyPath: filepath.Join(dir, "b.key"),
		Reload: func(context.Context) error { return errors.New("nginx: config test failed") }}
	if err := bad.Present(ctx, chalFor(acme.IdentifierDNS, "b.example", "2")); err == nil || !strings.Contains(err.Error(), "nginx") {
		t.Errorf("failed reload: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.crt")); !os.IsNotExist(err) {
		t.Error("files left after failed reload")
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"WWW.Example.com": "www.example.com", "2001:db8::1": "2001_db8__1", "..": "_.",
		"../etc/passwd": "_._etc_passwd", "*.example.com": "_.example.com", "": "",
	} {
		if got := SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// A CleanUp of a challenge that is not presented (never presented, or
// cleaned up already) must not close the listener that other challenges
// still need.
func TestStandaloneStrayCleanUp(t *testing.T) {
	ctx := testCtx(t)
	s := &Standalone{Addr: "127.0.0.1:0"}
	c1 := chalFor(acme.IdentifierDNS, "a.example", "ka-1")
	c2 := chalFor(acme.IdentifierDNS, "b.example", "ka-2")
	for _, c := range []acme.Challenge{c1, c2} {
		if err := s.Present(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	addr := s.ListenAddr().String()
	for _, c := range []acme.Challenge{c1, c1, chalFor(acme.IdentifierDNS, "c.example", "ka-3")} {
		if err := s.CleanUp(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if s.ListenAddr() == nil {
		t.Fatal("listener closed while c2 is still presented")
	}
	if err := SelfCheck(ctx, addr, c2); err != nil {
		t.Fatalf("c2 after stray CleanUps: %v", err)
	}
	if err := s.CleanUp(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if s.ListenAddr() != nil {
		t.Error("still listening after the last CleanUp")
	}
}

// The same challenge presented twice (two orders sharing an authorization)
// keeps its files until both are cleaned up, and a CleanUp of a challenge
// that is not the one presented at a path leaves that path alone.
func TestFilesSharedAndStrayCleanUp(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	f := &Files{CertPath: filepath.Join(dir, "a.crt"), KeyPath: filepath.Join(dir, "a.key")}
	exists := func() bool {
		_, err1 := os.Stat(filepath.Join(dir, "a.crt"))
		_, err2 := os.Stat(filepath.Join(dir, "a.key"))
		return err1 == nil && err2 == nil
	}
	chal := chalFor(acme.IdentifierDNS, "a.example", "ka-a")
	for range 2 {
		if err := f.Present(ctx, chal); err != nil {
			t.Fatal(err)
		}
	}
	// A challenge refused for this path, then cleaned up by its caller.
	other := chalFor(acme.IdentifierDNS, "b.example", "ka-b")
	if err := f.Present(ctx, other); err == nil {
		t.Fatal("second challenge on one path accepted")
	}
	if err := f.CleanUp(ctx, other); err != nil {
		t.Fatal(err)
	}
	if !exists() {
		t.Fatal("CleanUp of another challenge removed the files")
	}
	if err := f.CleanUp(ctx, chal); err != nil {
		t.Fatal(err)
	}
	if !exists() {
		t.Fatal("first CleanUp of a challenge presented twice removed the files")
	}
	if err := f.CleanUp(ctx, chal); err != nil {
		t.Fatal(err)
	}
	if exists() {
		t.Fatal("files left after the last CleanUp")
	}
}

// TestStandaloneListen checks that Listen holds the port across
// challenges until Close, which outlasts a challenge still presented and
// may be called again.
func TestStandaloneListen(t *testing.T) {
	ctx := testCtx(t)
	s := &Standalone{Addr: "127.0.0.1:0"}
	if err := s.Close(); err != nil {
		t.Fatalf("Close before Listen: %v", err)
	}
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	a := s.ListenAddr()
	if a == nil {
		t.Fatal("not listening after Listen")
	}
	addr := a.String()
	c1 := chalFor(acme.IdentifierDNS, "a.example", "ka-1")
	if err := s.Present(ctx, c1); err != nil {
		t.Fatal(err)
	}
	if err := s.CleanUp(ctx, c1); err != nil {
		t.Fatal(err)
	}
	if s.ListenAddr() == nil {
		t.Fatal("CleanUp closed the listener Listen holds")
	}
	c2 := chalFor(acme.IdentifierDNS, "b.example", "ka-2")
	if err := s.Present(ctx, c2); err != nil {
		t.Fatal(err)
	}
	// Close while c2 is presented: the listener stays for c2.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := SelfCheck(ctx, addr, c2); err != nil {
		t.Fatalf("c2 after Close: %v", err)
	}
	if err := s.CleanUp(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if s.ListenAddr() != nil {
		t.Fatal("still listening")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port not freed: %v", err)
	}
	l.Close()
}
