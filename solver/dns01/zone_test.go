package dns01_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/dnsprovider/exec"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// noSOAServer is a DNS server that answers SOA queries with NOTIMP, as
// some forwarders and appliances do, and everything else as the
// authoritative server of example.test (NS ns1.example.test at
// 127.0.0.1 on its own port), serving the TXT records listed in a file
// ("FQDN VALUE" per line) that a hook script writes.
type noSOAServer struct {
	addr string
	port int
	txt  string // the file of TXT records

	mu   sync.Mutex
	soas int // SOA queries received
}

func startNoSOA(t *testing.T) *noSOAServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &noSOAServer{addr: pc.LocalAddr().String(), port: pc.LocalAddr().(*net.UDPAddr).Port, txt: filepath.Join(t.TempDir(), "txt")}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		q := r.Question[0]
		name := strings.ToLower(q.Name)
		hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: 1}
		switch q.Qtype {
		case dns.TypeSOA:
			s.mu.Lock()
			s.soas++
			s.mu.Unlock()
			m.Rcode = dns.RcodeNotImplemented
		case dns.TypeNS:
			if name == "example.test." {
				m.Answer = append(m.Answer, &dns.NS{Hdr: hdr, Ns: "ns1.example.test."})
			}
		case dns.TypeA:
			if name == "ns1.example.test." {
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(127, 0, 0, 1)})
			}
		case dns.TypeTXT:
			data, _ := os.ReadFile(s.txt)
			for _, line := range strings.Split(string(data), "\n") {
				if n, v, ok := strings.Cut(line, " "); ok && strings.EqualFold(n, q.Name) {
					m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: []string{v}})
				}
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return s
}

func (s *noSOAServer) soaQueries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.soas
}

// hookProvider is an exec.Provider whose script logs each run with its
// zone to the returned file, and publishes the records in s.txt.
func hookProvider(t *testing.T, s *noSOAServer) (*exec.Provider, string) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "runs")
	script := filepath.Join(dir, "hook.sh")
	body := `#!/bin/sh
echo "$1 zone=[$CERTKEEPER_DNS_ZONE] $2" >> "$RUNS"
case "$1" in
present) echo "$2 $3" >> "$TXT" ;;
cleanup) grep -v -F "$2 $3" "$TXT" > "$TXT.new"; mv "$TXT.new" "$TXT" ;;
esac
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return &exec.Provider{Command: script, Env: []string{"RUNS=" + log, "TXT=" + s.txt, "PATH=" + os.Getenv("PATH")}}, log
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// TestZoneNotFoundExecRunsWithout: the resolver answers NOTIMP to SOA and
// the propagation check is off. The exec provider, which takes the zone
// only as a hint, runs with an empty CERTKEEPER_DNS_ZONE, and the log
// says why.
func TestZoneNotFoundExecRunsWithout(t *testing.T) {
	t.Parallel()
	s := startNoSOA(t)
	p, runs := hookProvider(t, s)
	var log logBuffer
	sv := &dns01.Solver{Provider: p, Resolver: dns01.Resolver{Servers: []string{s.addr}}, NoPropagationCheck: true, Logger: log.logger()}
	ctx := testCtx(t)
	c := dnsChal("www.example.test", "k.thumb")
	if err := sv.Present(ctx, c); err != nil {
		t.Fatalf("Present: %v", err)
	}
	if err := sv.Wait(ctx, c); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if err := sv.CleanUp(ctx, c); err != nil {
		t.Fatalf("CleanUp: %v", err)
	}
	want := "present zone=[] _acme-challenge.www.example.test.\ncleanup zone=[] _acme-challenge.www.example.test.\n"
	if got := readFile(t, runs); got != want {
		t.Errorf("the hook ran\n%s\nwant\n%s", got, want)
	}
	if l := log.String(); !strings.Contains(l, "zone not found: the provider is run without it") || !strings.Contains(l, "NOTIMP") {
		t.Errorf("the log does not say why the zone is empty:\n%s", l)
	}
}

// TestZoneGiven: with the zone given, no SOA query is made, the hook gets
// the zone and the propagation check finds the zone's name servers.
func TestZoneGiven(t *testing.T) {
	t.Parallel()
	s := startNoSOA(t)
	p, runs := hookProvider(t, s)
	sv := &dns01.Solver{
		Provider: p, Resolver: dns01.Resolver{Servers: []string{s.addr}},
		Zones:       []string{"test", "Example.Test", "other.test."},
		Propagation: dns01.Propagation{Port: s.port, Interval: 20 * time.Millisecond, Timeout: 10 * time.Second},
	}
	ctx := testCtx(t)
	c := dnsChal("*.www.example.test", "k.thumb")
	zone, _, _, err := sv.Target(ctx, c)
	if err != nil || zone != "example.test." {
		t.Fatalf("Target: zone %q, %v; want the longest zone given", zone, err)
	}
	if err := sv.Present(ctx, c); err != nil {
		t.Fatalf("Present: %v", err)
	}
	if err := sv.Wait(ctx, c); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if err := sv.CleanUp(ctx, c); err != nil {
		t.Fatalf("CleanUp: %v", err)
	}
	want := "present zone=[example.test.] _acme-challenge.www.example.test.\ncleanup zone=[example.test.] _acme-challenge.www.example.test.\n"
	if got := readFile(t, runs); got != want {
		t.Errorf("the hook ran\n%s\nwant\n%s", got, want)
	}
	if n := s.soaQueries(); n != 0 {
		t.Errorf("%d SOA queries with the zone given", n)
	}
}

// zoneNeeded is a Provider that needs the zone (no ZoneOptional method).
type zoneNeeded struct{ calls int }

func (p *zoneNeeded) AddTXT(context.Context, string, string, string) error    { p.calls++; return nil }
func (p *zoneNeeded) RemoveTXT(context.Context, string, string, string) error { p.calls++; return nil }

// TestZoneNotFoundNeeded: without the zone, a Provider that needs it and
// a propagation check that must find the name servers fail at once,
// before anything is written, saying what to give.
func TestZoneNotFoundNeeded(t *testing.T) {
	t.Parallel()
	s := startNoSOA(t)
	ctx := testCtx(t)
	c := dnsChal("www.example.test", "k.thumb")

	needy := &zoneNeeded{}
	sv := &dns01.Solver{Provider: needy, Resolver: dns01.Resolver{Servers: []string{s.addr}}, NoPropagationCheck: true}
	err := sv.Present(ctx, c)
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "NOTIMP") || !strings.Contains(err.Error(), "the provider needs it") || !strings.Contains(err.Error(), "give the zone") || needy.calls != 0 {
		t.Errorf("Present with a provider that needs the zone: %v (%d calls)", err, needy.calls)
	}

	p, runs := hookProvider(t, s)
	sv = &dns01.Solver{Provider: p, Resolver: dns01.Resolver{Servers: []string{s.addr}}}
	err = sv.Present(ctx, c)
	t.Log(err)
	var ze *dns01.ZoneError
	if !errors.As(err, &ze) || ze.Need != dns01.NeedPropagation || !strings.Contains(err.Error(), "NOTIMP") || !strings.Contains(err.Error(), "propagation check needs it") ||
		strings.Contains(err.Error(), "(Zones)") {
		t.Errorf("Present with the propagation check on: %v, want a *ZoneError in plain words", err)
	}
	// Named as the program's user knows the fields.
	sv.Names = func(f string) string { return "<" + f + ">" }
	err = sv.Present(ctx, c)
	for _, f := range []string{"(<Zones>)", "(<Propagation.Servers>)", "(<NoPropagationCheck>)"} {
		if !strings.Contains(fmt.Sprint(err), f) {
			t.Errorf("Present with Names: %v, want %s", err, f)
		}
	}
	if got := readFile(t, runs); got != "" {
		t.Errorf("the hook ran: %s", got)
	}

	// The servers to check given: the zone is not needed.
	sv = &dns01.Solver{Provider: p, Resolver: dns01.Resolver{Servers: []string{s.addr}},
		Propagation: dns01.Propagation{Servers: []string{s.addr}, Interval: 20 * time.Millisecond, Timeout: 10 * time.Second}}
	if err := sv.Present(ctx, c); err != nil {
		t.Fatalf("Present with check_servers: %v", err)
	}
	if err := sv.Wait(ctx, c); err != nil {
		t.Fatalf("Wait with check_servers: %v", err)
	}
	if err := sv.CleanUp(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// TestZoneNotFoundRFC2136: the resolvers answer NOTIMP to SOA, but the
// rfc2136 provider finds the zone at its own server, the primary (BIND).
func TestZoneNotFoundRFC2136(t *testing.T) {
	t.Parallel()
	s := startZones(t)
	noSOA := startNoSOA(t)
	sv := solverFor(s)
	sv.Resolver = dns01.Resolver{Servers: []string{noSOA.addr}}
	sv.NoPropagationCheck = true
	ctx := testCtx(t)
	c := dnsChal("primary.example.test", "k.thumb")
	if err := sv.Present(ctx, c); err != nil {
		t.Fatalf("Present: %v", err)
	}
	if got := s.TXT(t, "_acme-challenge.primary.example.test"); !slices.Equal(got, []string{challenge.DNS01Value("k.thumb")}) {
		t.Fatalf("TXT = %q", got)
	}
	if err := sv.CleanUp(ctx, c); err != nil {
		t.Fatalf("CleanUp: %v", err)
	}
	if got := s.TXT(t, "_acme-challenge.primary.example.test"); len(got) != 0 {
		t.Fatalf("TXT left: %q", got)
	}
}
