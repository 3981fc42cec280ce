// Package bindtest starts a real BIND 9 name server (named) for tests: an
// authoritative server on a free 127.0.0.1 port with the zones and TSIG
// keys a test asks for, accepting RFC 2136 dynamic updates.
//
// named is an external process, so a test that starts it belongs to the
// integration tier: under go test -short, Start skips the test. named is
// looked up in $PATH and in /usr/sbin. When it is missing, Start fails the
// test if the environment variable CI is "true" and skips it otherwise;
// install it with
//
//	apt-get install -y --no-install-recommends bind9 bind9-utils bind9-dnsutils
package bindtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Key is a TSIG key named knows.
type Key struct {
	// Name is the key's name, e.g. "acme-key." (a trailing dot is added).
	Name string
	// Algorithm is the BIND name of the algorithm: "hmac-sha256" (the
	// default when empty) or "hmac-sha512", "hmac-sha384", "hmac-sha1".
	Algorithm string
	// Secret is the base64 secret. Empty means 32 random bytes.
	Secret string
}

// Zone is one primary zone named serves.
type Zone struct {
	// Name is the zone's apex, e.g. "example.test." (a trailing dot is
	// added).
	Name string
	// Records are extra resource records in zone file syntax, e.g.
	// "www 60 IN A 127.0.0.1" or "_acme-challenge.a CNAME x.other.test.".
	// The zone always has its SOA, "NS ns1.<zone>", and A 127.0.0.1 at the
	// apex and at ns1.
	Records []string
	// Serial is the SOA serial. 0 means 1.
	Serial uint32
	// Update is what goes inside the zone's allow-update { } statement.
	// Empty allows updates signed by any of the server's keys; "none"
	// refuses all updates.
	Update string
}

// Options describes the server to start.
type Options struct {
	Zones []Zone
	Keys  []Key
	// Recursion lets 127.0.0.1 ask recursive queries. Without it named
	// answers as an authoritative-only server does: a CNAME into another
	// zone comes back without the target's records, and a client that
	// does not chase CNAMEs itself (Go's resolver, so Pebble) stops there.
	// With it named chases the CNAME through the zones it serves, as the
	// CA's recursive resolver does. Names outside its zones are then
	// looked up from the root, which takes time without network access.
	Recursion bool
	// Port to listen on, on 127.0.0.1. 0 means a free one. (named binds
	// only addresses configured on an interface, so other 127.0.0.0/8
	// addresses do not work without changing the host's network.)
	Port int
}

// Server is a running named.
type Server struct {
	// Addr is the host:port it listens on, UDP and TCP.
	Addr string
	// Port is Addr's port: the zones' NS records point at 127.0.0.1, so
	// whoever asks them must use this port instead of 53.
	Port int
	// Keys are the keys it accepts, with their secrets filled in.
	Keys []Key
	// Dir holds named.conf, the zone files and the journals.
	Dir string

	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// FindNamed returns the path of named, or an error saying how to install
// it.
func FindNamed() (string, error) {
	if p, err := exec.LookPath("named"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/named", "/usr/local/sbin/named"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("bindtest: named not found; install BIND 9 (apt-get install -y --no-install-recommends bind9 bind9-utils bind9-dnsutils)")
}

// Start starts named for the test t and stops it when t ends. Under go
// test -short it skips t (integration tier). Without named it fails t
// under CI=true and skips t otherwise.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("integration tier (starts named, an external process): skipped under -short")
	}
	bin, err := FindNamed()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s, err := start(t, bin, opts)
		if err == nil {
			return s
		}
		lastErr = err
		if !errors.Is(err, errExited) {
			break // only a lost race for the port is worth another try
		}
	}
	t.Fatal(lastErr)
	return nil
}

func start(t testing.TB, bin string, opts Options) (*Server, error) {
	dir := t.TempDir()
	ip := "127.0.0.1"
	port := opts.Port
	if port == 0 {
		p, err := freePort(ip)
		if err != nil {
			return nil, err
		}
		port = p
	}
	s := &Server{Addr: net.JoinHostPort(ip, strconv.Itoa(port)), Port: port, Dir: dir, out: &syncBuffer{}, done: make(chan struct{})}
	if err := s.writeConfig(opts); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "-g", "-c", filepath.Join(dir, "named.conf"))
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bindtest: starting named: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("named output:\n%s", s.out.String())
		}
	})
	if err := s.waitReady(opts.Zones); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w\nnamed output:\n%s", err, s.out.String())
	}
	return s, nil
}

func (s *Server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *Server) writeConfig(opts Options) error {
	var conf bytes.Buffer
	var keyNames []string
	for _, k := range opts.Keys {
		if k.Algorithm == "" {
			k.Algorithm = "hmac-sha256"
		}
		if k.Secret == "" {
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			k.Secret = base64.StdEncoding.EncodeToString(b)
		}
		k.Name = dns.Fqdn(k.Name)
		s.Keys = append(s.Keys, k)
		keyNames = append(keyNames, k.Name)
		fmt.Fprintf(&conf, "key %q {\n\talgorithm %s;\n\tsecret %q;\n};\n", k.Name, k.Algorithm, k.Secret)
	}
	ip, _, _ := net.SplitHostPort(s.Addr)
	recursion := "recursion no;"
	if opts.Recursion {
		recursion = "recursion yes; allow-recursion { 127.0.0.1; };"
	}
	fmt.Fprintf(&conf, `options {
	directory %q;
	pid-file %q;
	session-keyfile %q;
	listen-on port %d { %s; };
	listen-on-v6 { none; };
	%s
	dnssec-validation no;
	notify no;
	minimal-responses no;
};
controls { };
`, s.Dir, filepath.Join(s.Dir, "named.pid"), filepath.Join(s.Dir, "session.key"), s.Port, ip, recursion)
	for i, z := range opts.Zones {
		name := dns.Fqdn(z.Name)
		file := filepath.Join(s.Dir, fmt.Sprintf("zone%d.db", i))
		update := z.Update
		if update == "" {
			var b strings.Builder
			for _, k := range keyNames {
				fmt.Fprintf(&b, "key %q; ", k)
			}
			update = b.String()
			if update == "" {
				update = "none;"
			}
		} else if !strings.HasSuffix(strings.TrimSpace(update), ";") {
			update += ";"
		}
		fmt.Fprintf(&conf, "zone %q {\n\ttype primary;\n\tfile %q;\n\tallow-update { %s };\n};\n", name, file, update)
		var zf bytes.Buffer
		serial := z.Serial
		if serial == 0 {
			serial = 1
		}
		fmt.Fprintf(&zf, "$ORIGIN %s\n$TTL 60\n@ IN SOA ns1.%s hostmaster.%s %d 3600 600 86400 60\n@ IN NS ns1.%s\n@ IN A 127.0.0.1\nns1 IN A 127.0.0.1\n", name, name, name, serial, name)
		for _, r := range z.Records {
			zf.WriteString(r + "\n")
		}
		if err := os.WriteFile(file, zf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(s.Dir, "named.conf"), conf.Bytes(), 0o644)
}

var errExited = errors.New("bindtest: named exited")

// waitReady waits until every zone answers its SOA.
func (s *Server) waitReady(zones []Zone) error {
	deadline := time.Now().Add(15 * time.Second)
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	for _, z := range zones {
		for {
			m := new(dns.Msg)
			m.SetQuestion(dns.Fqdn(z.Name), dns.TypeSOA)
			r, _, err := c.Exchange(m, s.Addr)
			if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
				break
			}
			select {
			case <-s.done:
				return errExited
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("bindtest: zone %s not served after 15s (last: %v)", z.Name, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// Key returns the key with the given algorithm, or fails t.
func (s *Server) Key(t testing.TB, algorithm string) Key {
	t.Helper()
	for _, k := range s.Keys {
		if k.Algorithm == algorithm {
			return k
		}
	}
	t.Fatalf("bindtest: no %s key", algorithm)
	return Key{}
}

// TXT returns the TXT strings (each record's strings joined) at name, asked
// directly of the server; it fails t on a DNS error other than NXDOMAIN.
func (s *Server) TXT(t testing.TB, name string) []string {
	t.Helper()
	r := s.Query(t, name, dns.TypeTXT)
	var v []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok && strings.EqualFold(txt.Hdr.Name, dns.Fqdn(name)) {
			v = append(v, strings.Join(txt.Txt, ""))
		}
	}
	return v
}

// Query asks the server one question over TCP and returns its answer.
func (s *Server) Query(t testing.TB, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, _, err := (&dns.Client{Net: "tcp"}).ExchangeContext(ctx, m, s.Addr)
	if err != nil {
		t.Fatalf("bindtest: %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		t.Fatalf("bindtest: %s %s: %s", name, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode])
	}
	return r
}

// Output returns what named has logged so far.
func (s *Server) Output() string { return s.out.String() }

// freePort returns a port free on 127.0.0.1 for both UDP and TCP.
func freePort(ip string) (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		l.Close()
		if err != nil {
			continue
		}
		pc.Close()
		return port, nil
	}
	return 0, errors.New("bindtest: no free port")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 {
		b.b.Reset()
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
