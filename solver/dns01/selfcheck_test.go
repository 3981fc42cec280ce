package dns01

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// testKeyAuth uses the token and account-key thumbprint of the examples in
// RFC 8555 §8.1 and §8.3.
const testKeyAuth = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

// dnsServer is a tiny authoritative-and-recursive-looking DNS server on a
// free 127.0.0.1 UDP port, answering from a map of owner name to records.
type dnsServer struct {
	mu      sync.Mutex
	records map[string][]dns.RR
	addr    string
	// recursive makes the server put a whole CNAME chain (up to 8 links)
	// in one answer, as a recursive resolver does; otherwise it answers
	// with the records of the name asked only, as an authoritative server.
	recursive bool
	queries   int
}

func (s *dnsServer) queryCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

func startDNS(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{records: map[string][]dns.RR{}, addr: pc.LocalAddr().String()}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.queries++
		name := strings.ToLower(r.Question[0].Name)
		// Follow CNAMEs in the answer, as a recursive resolver would.
		for hops := 0; hops < 8; hops++ {
			rrs, ok := s.records[name]
			if !ok {
				if hops == 0 {
					m.Rcode = dns.RcodeNameError
				}
				break
			}
			m.Answer = append(m.Answer, rrs...)
			cn, isCNAME := rrs[0].(*dns.CNAME)
			if !isCNAME || !s.recursive {
				break
			}
			name = cn.Target
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

func (s *dnsServer) set(rr ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rr {
		x, err := dns.NewRR(r)
		if err != nil {
			panic(err)
		}
		n := strings.ToLower(x.Header().Name)
		s.records[n] = append(s.records[n], x)
	}
}

func TestSelfCheck(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := startDNS(t)
	srv.recursive = true
	chal := acme.Challenge{Type: acme.ChallengeDNS01, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}, KeyAuthorization: testKeyAuth}

	err := SelfCheck(ctx, srv.addr, chal)
	if err == nil || !strings.Contains(err.Error(), "NXDOMAIN") {
		t.Fatalf("no record: %v", err)
	}
	srv.set(`_acme-challenge.example.com. 60 IN TXT "wrong"`)
	err = SelfCheck(ctx, srv.addr, chal)
	if err == nil || !strings.Contains(err.Error(), `got ["wrong"]`) || !strings.Contains(err.Error(), challenge.DNS01Value(testKeyAuth)) {
		t.Fatalf("wrong record: %v", err)
	}
	srv.set(`_acme-challenge.example.com. 60 IN TXT "` + challenge.DNS01Value(testKeyAuth) + `"`)
	if err := SelfCheck(ctx, srv.addr, chal); err != nil {
		t.Fatalf("right record among two: %v", err)
	}

	// Delegation by CNAME to another zone.
	chal.Identifier.Value = "delegated.example.test"
	srv.set(`_acme-challenge.delegated.example.test. 60 IN CNAME validation.other.example.test.`,
		`validation.other.example.test. 60 IN TXT "`+challenge.DNS01Value(testKeyAuth)[:20]+`" "`+challenge.DNS01Value(testKeyAuth)[20:]+`"`)
	if err := SelfCheck(ctx, srv.addr, chal); err != nil {
		t.Fatalf("CNAME: %v", err)
	}

	// dns-account-01 and dns-persist-01.
	acc := chal
	acc.Type, acc.AccountURL = acme.ChallengeDNSAccount01, "https://example.com/acme/acct/1"
	acc.Identifier.Value = "example.com"
	if err := SelfCheck(ctx, srv.addr, acc); err == nil {
		t.Fatal("dns-account-01 passed without its record")
	}
	srv.set(`_vrr7uudrklshxb6l._acme-challenge.example.com. 60 IN TXT "` + challenge.DNS01Value(testKeyAuth) + `"`)
	if err := SelfCheck(ctx, srv.addr, acc); err != nil {
		t.Fatalf("dns-account-01: %v", err)
	}
	per := acme.Challenge{Type: acme.ChallengeDNSPersist01, Identifier: acc.Identifier, AccountURL: acc.AccountURL, IssuerDomainNames: []string{"ca.example"}}
	srv.set(`_validation-persist.example.com. 60 IN TXT "ca.example; accounturi=https://example.com/acme/acct/2"`)
	if err := SelfCheck(ctx, srv.addr, per); err == nil || !strings.Contains(err.Error(), "acct/2") {
		t.Fatalf("dns-persist-01 other account: %v", err)
	}
	srv.set(`_validation-persist.example.com. 60 IN TXT "ca.example; accounturi=https://example.com/acme/acct/1"`)
	if err := SelfCheck(ctx, srv.addr, per); err != nil {
		t.Fatalf("dns-persist-01: %v", err)
	}

	// A dead resolver gives up when ctx does.
	short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0") // never answers
	defer pc.Close()
	start := time.Now()
	if err := SelfCheck(short, pc.LocalAddr().String(), chal); err == nil {
		t.Fatal("silent resolver: no error")
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("silent resolver: took %v, ctx not honoured", time.Since(start))
	}
}

// TestSelfCheckCNAMELoop serves "a CNAME b", "b CNAME a" from a DNS server
// on 127.0.0.1, both as a recursive resolver does (the whole chain in one
// answer) and as an authoritative server does (one CNAME per answer), and
// a chain longer than MaxCNAMEs: SelfCheck must give an error wrapping
// ErrCNAMELoop that names the chain, promptly, after a bounded number of
// queries, well before the context's deadline.
func TestSelfCheckCNAMELoop(t *testing.T) {
	// _acme-challenge.long.example.test. -> c0 -> c1 -> ... -> c11, all distinct.
	long := []string{"_acme-challenge.long.example.test. 60 IN CNAME c0.example.test."}
	for i := range MaxCNAMEs + 1 {
		long = append(long, fmt.Sprintf("c%d.example.test. 60 IN CNAME c%d.example.test.", i, i+1))
	}
	for _, tc := range []struct {
		name      string
		recursive bool
		domain    string
		records   []string
		chain     string
	}{
		{"recursive", true, "loop.example.test", []string{
			"_acme-challenge.loop.example.test. 60 IN CNAME b.loop.example.test.",
			"b.loop.example.test. 60 IN CNAME _acme-challenge.loop.example.test."},
			"_acme-challenge.loop.example.test. -> b.loop.example.test. -> _acme-challenge.loop.example.test."},
		{"authoritative", false, "loop.example.test", []string{
			"_acme-challenge.loop.example.test. 60 IN CNAME b.loop.example.test.",
			"b.loop.example.test. 60 IN CNAME _acme-challenge.loop.example.test."},
			"_acme-challenge.loop.example.test. -> b.loop.example.test. -> _acme-challenge.loop.example.test."},
		{"too long", false, "long.example.test", long, fmt.Sprintf("c%d.example.test.", MaxCNAMEs-1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startDNS(t)
			srv.recursive = tc.recursive
			srv.set(tc.records...)
			chal := acme.Challenge{Type: acme.ChallengeDNS01, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: tc.domain}, KeyAuthorization: testKeyAuth}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := SelfCheck(ctx, srv.addr, chal)
			if !errors.Is(err, ErrCNAMELoop) || !strings.Contains(err.Error(), tc.chain) {
				t.Fatalf("got %v, want an error wrapping ErrCNAMELoop naming %s", err, tc.chain)
			}
			if ctx.Err() != nil {
				t.Fatalf("returned only when the context ended: %v", err)
			}
			if q := srv.queryCount(); q > MaxCNAMEs+1 {
				t.Errorf("%d queries for a chain SelfCheck must give up on after at most %d", q, MaxCNAMEs+1)
			}
		})
	}
}

// TestSelfCheckHonoursContext: a resolver that never answers costs no
// more than the context allows.
func TestSelfCheckHonoursContext(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // never answers
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	chal := acme.Challenge{Type: acme.ChallengeDNS01, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "example.test"}, KeyAuthorization: testKeyAuth}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- SelfCheck(ctx, pc.LocalAddr().String(), chal) }()
	// The query is in flight once the silent server has received it.
	buf := make([]byte, 512)
	if _, _, err := pc.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(4 * time.Second): // well under the 5 s query timeout
		t.Fatal("SelfCheck did not return when its context was cancelled")
	}
}
