package dns01_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/dnsprovider/bindtest"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// logBuffer collects a slog text log, safe for concurrent writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// closedUDPPort returns host:port of a UDP port on ip that nothing
// listens on (it was free a moment ago).
func closedUDPPort(t *testing.T, ip string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("no UDP on %s here: %v", ip, err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// silentUDP returns the address of a UDP socket that never answers.
func silentUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// TestPropagationUnreachableIPv6 is the IPv4-only host: the zone's only
// name server has an IPv4 address that serves the record and an IPv6
// address this host cannot use. The check must pass on the IPv4 answer
// and report the IPv6 address, not wait for it. Three kinds of IPv6
// address: a closed port on ::1 (connection refused), an address of the
// documentation range (no route, or a timeout), and both.
func TestPropagationUnreachableIPv6(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		aaaa []string
	}{
		{"closed port on ::1", []string{"::1"}},
		{"documentation range", []string{"2001:db8::53"}},
		{"both", []string{"::1", "2001:db8::53"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var recs []string
			for _, a := range tc.aaaa {
				recs = append(recs, "ns1 AAAA "+a)
			}
			s := bindtest.Start(t, bindtest.Options{Keys: []bindtest.Key{{Name: "acme-key"}}, Zones: []bindtest.Zone{{Name: "example.test", Records: recs}}})
			ctx := testCtx(t)
			ns, err := (&dns01.Resolver{Servers: []string{s.Addr}}).NameServers(ctx, "example.test.", s.Port)
			if err != nil || len(ns) != 1+len(tc.aaaa) {
				t.Fatalf("NameServers = %v, %v; want the IPv4 address and %d IPv6 ones", ns, err, len(tc.aaaa))
			}
			var log logBuffer
			sv := solverFor(s)
			sv.Logger = log.logger()
			sv.Propagation.QueryTimeout = 300 * time.Millisecond
			sv.Propagation.Timeout = 20 * time.Second
			c := dnsChal("v4only.example.test", "k.thumb")
			if err := sv.Present(ctx, c); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := sv.Wait(ctx, c); err != nil {
				t.Fatalf("Wait: %v\nlog:\n%s", err, log.String())
			}
			t.Logf("passed after %v", time.Since(start))
			for _, a := range tc.aaaa {
				want := fmt.Sprintf("ns1.example.test. (%s)", net.JoinHostPort(a, strconv.Itoa(s.Port)))
				if !strings.Contains(log.String(), "name server unreachable") || !strings.Contains(log.String(), want) {
					t.Errorf("the log does not report %s as unreachable:\n%s", want, log.String())
				}
			}
			if err := sv.CleanUp(ctx, c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPropagationIPv6AddressLags: a server that answers on both of its
// addresses must serve the value on both; the IPv6 one here is another
// server (on ::1, the same port) without the record.
func TestPropagationIPv6AddressLags(t *testing.T) {
	t.Parallel()
	s := bindtest.Start(t, bindtest.Options{Keys: []bindtest.Key{{Name: "acme-key"}}, Zones: []bindtest.Zone{{Name: "example.test", Records: []string{"ns1 AAAA ::1"}}}})
	pc, err := net.ListenPacket("udp", net.JoinHostPort("::1", strconv.Itoa(s.Port)))
	if err != nil {
		t.Skipf("cannot listen on [::1]:%d: %v", s.Port, err)
	}
	v6 := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		m.Rcode = dns.RcodeNameError
		_ = w.WriteMsg(m)
	})}
	go func() { _ = v6.ActivateAndServe() }()
	t.Cleanup(func() { _ = v6.Shutdown() })
	sv := solverFor(s)
	sv.Propagation.Timeout = 400 * time.Millisecond
	ctx := testCtx(t)
	c := dnsChal("v6lags.example.test", "k.thumb")
	if err := sv.Present(ctx, c); err != nil {
		t.Fatal(err)
	}
	err = sv.Wait(ctx, c)
	v6Addr := net.JoinHostPort("::1", strconv.Itoa(s.Port))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "ns1.example.test. ("+v6Addr+") answered NXDOMAIN") ||
		!strings.Contains(err.Error(), "served by ns1.example.test. ("+s.Addr+")") {
		t.Fatalf("got %v, want the IPv6 address named as lagging", err)
	}
}

// TestPropagationNoServerReachable: when no authoritative server answers
// on any address, Wait fails at once (refused, unreachable) or after two
// silent checks (timeouts), naming each address, long before its Timeout.
func TestPropagationNoServerReachable(t *testing.T) {
	t.Parallel()
	var log logBuffer
	p := dns01.Propagation{
		Servers:      []string{closedUDPPort(t, "127.0.0.1"), silentUDP(t), "[2001:db8::53]:53"},
		Interval:     50 * time.Millisecond,
		QueryTimeout: 200 * time.Millisecond,
		Timeout:      time.Minute,
		Logger:       log.logger(),
	}
	ctx := testCtx(t)
	start := time.Now()
	err := p.Wait(ctx, &dns01.Resolver{}, "example.test.", "_acme-challenge.example.test.", "v")
	var pe *dns01.PropagationError
	if !errors.As(err, &pe) || !errors.Is(err, dns01.ErrUnreachable) {
		t.Fatalf("got %v, want a PropagationError wrapping ErrUnreachable", err)
	}
	t.Logf("failed after %v, %d checks: %v", time.Since(start), pe.Checks, err)
	if d := time.Since(start); d > 20*time.Second || pe.Checks > 2 {
		t.Errorf("took %v and %d checks; Timeout was a minute", d, pe.Checks)
	}
	for _, a := range p.Servers {
		if !strings.Contains(err.Error(), a+": unreachable (") {
			t.Errorf("error does not name %s as unreachable: %v", a, err)
		}
		if !strings.Contains(log.String(), a) {
			t.Errorf("log does not name %s:\n%s", a, log.String())
		}
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error does not say why: %v", err)
	}
}

// TestPropagationLaggingBesideUnreachable: an unreachable address does
// not hold up the check, but a server answering without the value does;
// the error tells the two apart.
func TestPropagationLaggingBesideUnreachable(t *testing.T) {
	t.Parallel()
	s := startZones(t)
	stale := acmetest.NewTestDNSServer(t)
	closed := closedUDPPort(t, "127.0.0.1")
	sv := solverFor(s)
	sv.Propagation = dns01.Propagation{Servers: []string{s.Addr, stale.Addr(), closed}, Interval: 50 * time.Millisecond, Timeout: 500 * time.Millisecond}
	var progress logBuffer
	sv.Logger = progress.logger()
	ctx := testCtx(t)
	c := dnsChal("mixed.example.test", "k.thumb")
	if err := sv.Present(ctx, c); err != nil {
		t.Fatal(err)
	}
	err := sv.Wait(ctx, c)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the deadline: %s lags", err, stale.Addr())
	}
	t.Log(err)
	msg := err.Error()
	for _, want := range []string{stale.Addr() + " answered NOERROR with no TXT record", "not reached: " + closed + ": unreachable (", "served by " + s.Addr} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	if l := progress.String(); !strings.Contains(l, "not yet served by every name server") || !strings.Contains(l, stale.Addr()+" answered NOERROR") ||
		!strings.Contains(l, "name server unreachable") || !strings.Contains(l, closed) {
		t.Errorf("the progress log does not name the lagging and the unreachable server:\n%s", l)
	}
	// Without the lagging server the unreachable one is only reported.
	var log logBuffer
	sv.Propagation.Servers = []string{s.Addr, closed}
	sv.Logger = log.logger()
	if err := sv.Wait(ctx, c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "some could not be checked") || !strings.Contains(log.String(), closed) {
		t.Errorf("log does not report %s:\n%s", closed, log.String())
	}
}

// TestResolverSkipsSilentServer: a resolver that does not answer costs
// one timeout, not one per query: the next queries start with the
// server that answered.
func TestResolverSkipsSilentServer(t *testing.T) {
	t.Parallel()
	s := startZones(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	// The reader counts the queries up to a sentinel the test sends last.
	received := make(chan int, 1)
	go func() {
		buf := make([]byte, 4096)
		for n := 0; ; n++ {
			k, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if string(buf[:k]) == "sentinel" {
				received <- n
				return
			}
		}
	}()
	r := &dns01.Resolver{Servers: []string{pc.LocalAddr().String(), s.Addr}, Timeout: 200 * time.Millisecond}
	ctx := testCtx(t)
	if z, err := r.FindZone(ctx, "_acme-challenge.a.b.example.test"); err != nil || z != "example.test." {
		t.Fatalf("FindZone = %q, %v", z, err)
	}
	if _, err := r.NameServers(ctx, "example.test.", s.Port); err != nil {
		t.Fatal(err)
	}
	// Every query reached the socket before FindZone and NameServers
	// returned: a packet sent now is read after all of them.
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("sentinel")); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-received:
		if n != 1 {
			t.Fatalf("the silent resolver was asked %d times, want once", n)
		}
	case <-ctx.Done():
		t.Fatal("the sentinel never reached the silent resolver")
	}
}
