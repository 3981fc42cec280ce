package challenge

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certkeeper/certkeeper/acme"
)

// testKeyAuth uses the token and account-key thumbprint of the examples in
// RFC 8555 §8.1 and §8.3.
const testKeyAuth = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

func TestDNS01ValueKAT(t *testing.T) {
	// Made with:
	//   ka='evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI'
	//   printf %s "$ka" | openssl dgst -sha256 -binary | basenc --base64url | tr -d =
	const want = "lCM7cZyQXcVHK2nnW3jjAhNT3Fvm18UN-kWZZknKoYM"
	if got := DNS01Value(testKeyAuth); got != want {
		t.Fatalf("DNS01Value = %q, want %q", got, want)
	}
}

func TestDNSNames(t *testing.T) {
	const acct = "https://example.com/acme/acct/1"
	// Label made with:
	//   printf %s https://example.com/acme/acct/1 | openssl dgst -sha256 -binary |
	//     head -c 10 | basenc --base32 | tr -d = | tr A-Z a-z
	const label = "vrr7uudrklshxb6l"
	tests := []struct{ got, want string }{
		{DNS01Name("example.com"), "_acme-challenge.example.com."},
		{DNS01Name("*.example.com"), "_acme-challenge.example.com."},
		{DNS01Name("example.com."), "_acme-challenge.example.com."},
		{DNSAccount01Name("example.com", acct), "_" + label + "._acme-challenge.example.com."},
		{DNSAccount01Name("*.example.com", acct), "_" + label + "._acme-challenge.example.com."},
		{DNSPersist01Name("example.com"), "_validation-persist.example.com."},
		{DNSPersist01Name("*.example.com"), "_validation-persist.example.com."},
		{HTTP01Path("tok"), "/.well-known/acme-challenge/tok"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestDNSPersist01Value(t *testing.T) {
	const acct = "https://acme.example/acct/1"
	got, err := DNSPersist01Value("letsencrypt.org", acct)
	if err != nil || got != "letsencrypt.org; accounturi="+acct {
		t.Errorf("plain: %q, %v", got, err)
	}
	got, err = DNSPersist01Value("letsencrypt.org", acct, WithPolicyWildcard(), WithPersistUntil(time.Unix(1767225600, 0)))
	if err != nil || got != "letsencrypt.org; accounturi="+acct+"; policy=wildcard; persistUntil=1767225600" {
		t.Errorf("full: %q, %v", got, err)
	}
	for _, bad := range [][2]string{{"", acct}, {"le.org", ""}, {"le.org", "https://a b"}, {"le.org", "https://a;b"}, {"le;org", acct}} {
		if v, err := DNSPersist01Value(bad[0], bad[1]); err == nil {
			t.Errorf("DNSPersist01Value(%q, %q) = %q, want error", bad[0], bad[1], v)
		}
	}
	// What we write must be what we (and the CA) accept.
	chal := acme.Challenge{Type: acme.ChallengeDNSPersist01, AccountURL: acct, IssuerDomainNames: []string{"letsencrypt.org"}, Wildcard: true}
	v, _ := DNSPersist01Value("letsencrypt.org", acct, WithPolicyWildcard())
	if err := matchPersist(v, chal, time.Now()); err != nil {
		t.Errorf("matchPersist(own value): %v", err)
	}
	v, _ = DNSPersist01Value("letsencrypt.org", acct)
	if err := matchPersist(v, chal, time.Now()); err == nil {
		t.Error("wildcard challenge accepted a record without policy=wildcard")
	}
	v, _ = DNSPersist01Value("letsencrypt.org", acct, WithPolicyWildcard(), WithPersistUntil(time.Unix(1000, 0)))
	if err := matchPersist(v, chal, time.Now()); err == nil || !strings.Contains(err.Error(), "persistUntil") {
		t.Errorf("expired record: %v", err)
	}
	if err := matchPersist("other.example; accounturi="+acct, chal, time.Now()); err == nil {
		t.Error("foreign issuer accepted")
	}
	if err := matchPersist("letsencrypt.org;ACCOUNTURI="+acct+" ;\tpolicy=WILDCARD", chal, time.Now()); err != nil {
		t.Errorf("case and whitespace variants: %v", err)
	}
}

func TestRecordFor(t *testing.T) {
	const acct = "https://example.com/acme/acct/1"
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}
	tests := []struct {
		chal      acme.Challenge
		name, val string
		wantErr   bool
	}{
		{chal: acme.Challenge{Type: acme.ChallengeDNS01, Identifier: id, KeyAuthorization: testKeyAuth},
			name: "_acme-challenge.example.com.", val: DNS01Value(testKeyAuth)},
		{chal: acme.Challenge{Type: acme.ChallengeDNSAccount01, Identifier: id, KeyAuthorization: testKeyAuth, AccountURL: acct},
			name: "_vrr7uudrklshxb6l._acme-challenge.example.com.", val: DNS01Value(testKeyAuth)},
		{chal: acme.Challenge{Type: acme.ChallengeDNSPersist01, Identifier: id, Wildcard: true, AccountURL: acct, IssuerDomainNames: []string{"ca.example", "other.example"}},
			name: "_validation-persist.example.com.", val: "ca.example; accounturi=" + acct + "; policy=wildcard"},
		{chal: acme.Challenge{Type: acme.ChallengeDNSAccount01, Identifier: id, KeyAuthorization: testKeyAuth}, wantErr: true},
		{chal: acme.Challenge{Type: acme.ChallengeDNSPersist01, Identifier: id, AccountURL: acct}, wantErr: true},
		{chal: acme.Challenge{Type: acme.ChallengeHTTP01, Identifier: id, KeyAuthorization: testKeyAuth}, wantErr: true},
		{chal: acme.Challenge{Type: acme.ChallengeDNS01, Identifier: acme.Identifier{Type: acme.IdentifierIP, Value: "192.0.2.1"}, KeyAuthorization: testKeyAuth}, wantErr: true},
		{chal: acme.Challenge{Type: acme.ChallengeDNS01, KeyAuthorization: testKeyAuth}, wantErr: true},
	}
	for i, tt := range tests {
		name, val, err := RecordFor(tt.chal)
		if (err != nil) != tt.wantErr {
			t.Errorf("%d: RecordFor error = %v, wantErr %v", i, err, tt.wantErr)
			continue
		}
		if name != tt.name || val != tt.val {
			t.Errorf("%d: RecordFor = %q %q, want %q %q", i, name, val, tt.name, tt.val)
		}
	}
}

// dnsServer is a tiny authoritative-and-recursive-looking DNS server on a
// free 127.0.0.1 UDP port, answering from a map of owner name to records.
type dnsServer struct {
	mu      sync.Mutex
	records map[string][]dns.RR
	addr    string
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
			if !isCNAME {
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

func TestCheckDNS01(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := startDNS(t)
	chal := acme.Challenge{Type: acme.ChallengeDNS01, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}, KeyAuthorization: testKeyAuth}

	err := CheckDNS01(ctx, srv.addr, chal)
	if err == nil || !strings.Contains(err.Error(), "NXDOMAIN") {
		t.Fatalf("no record: %v", err)
	}
	srv.set(`_acme-challenge.example.com. 60 IN TXT "wrong"`)
	err = CheckDNS01(ctx, srv.addr, chal)
	if err == nil || !strings.Contains(err.Error(), `got ["wrong"]`) || !strings.Contains(err.Error(), DNS01Value(testKeyAuth)) {
		t.Fatalf("wrong record: %v", err)
	}
	srv.set(`_acme-challenge.example.com. 60 IN TXT "` + DNS01Value(testKeyAuth) + `"`)
	if err := CheckDNS01(ctx, srv.addr, chal); err != nil {
		t.Fatalf("right record among two: %v", err)
	}

	// Delegation by CNAME to another zone.
	chal.Identifier.Value = "delegated.example"
	srv.set(`_acme-challenge.delegated.example. 60 IN CNAME validation.other.example.`,
		`validation.other.example. 60 IN TXT "`+DNS01Value(testKeyAuth)[:20]+`" "`+DNS01Value(testKeyAuth)[20:]+`"`)
	if err := CheckDNS01(ctx, srv.addr, chal); err != nil {
		t.Fatalf("CNAME: %v", err)
	}

	// dns-account-01 and dns-persist-01.
	acc := chal
	acc.Type, acc.AccountURL = acme.ChallengeDNSAccount01, "https://example.com/acme/acct/1"
	acc.Identifier.Value = "example.com"
	if err := CheckDNS01(ctx, srv.addr, acc); err == nil {
		t.Fatal("dns-account-01 passed without its record")
	}
	srv.set(`_vrr7uudrklshxb6l._acme-challenge.example.com. 60 IN TXT "` + DNS01Value(testKeyAuth) + `"`)
	if err := CheckDNS01(ctx, srv.addr, acc); err != nil {
		t.Fatalf("dns-account-01: %v", err)
	}
	per := acme.Challenge{Type: acme.ChallengeDNSPersist01, Identifier: acc.Identifier, AccountURL: acc.AccountURL, IssuerDomainNames: []string{"ca.example"}}
	srv.set(`_validation-persist.example.com. 60 IN TXT "ca.example; accounturi=https://example.com/acme/acct/2"`)
	if err := CheckDNS01(ctx, srv.addr, per); err == nil || !strings.Contains(err.Error(), "acct/2") {
		t.Fatalf("dns-persist-01 other account: %v", err)
	}
	srv.set(`_validation-persist.example.com. 60 IN TXT "ca.example; accounturi=https://example.com/acme/acct/1"`)
	if err := CheckDNS01(ctx, srv.addr, per); err != nil {
		t.Fatalf("dns-persist-01: %v", err)
	}

	// A dead resolver gives up when ctx does.
	short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0") // never answers
	defer pc.Close()
	start := time.Now()
	if err := CheckDNS01(short, pc.LocalAddr().String(), chal); err == nil {
		t.Fatal("silent resolver: no error")
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("silent resolver: took %v, ctx not honoured", time.Since(start))
	}
}

// TestCheckDNS01CNAMELoop: a resolver answering "a CNAME b", "b CNAME a"
// (in one answer, as a recursive resolver does) must give an error that
// names the loop, well within the context's deadline.
func TestCheckDNS01CNAMELoop(t *testing.T) {
	srv := startDNS(t)
	srv.set(`_acme-challenge.loop.example. 60 IN CNAME b.loop.example.`,
		`b.loop.example. 60 IN CNAME _acme-challenge.loop.example.`)
	chal := acme.Challenge{Type: acme.ChallengeDNS01, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "loop.example"}, KeyAuthorization: testKeyAuth}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- CheckDNS01(ctx, srv.addr, chal) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "CNAME loop") || !strings.Contains(err.Error(), "b.loop.example.") {
			t.Fatalf("CNAME loop: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatalf("CNAME loop: returned only when the context ended: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("CheckDNS01 on a CNAME loop did not return 3 s after its 2 s deadline")
	}
}

// An identifier from the CA that does not make a plain DNS name (a
// newline, a space, a semicolon) gives no record.
func TestRecordForRefusesBadIdentifiers(t *testing.T) {
	for _, id := range []string{"a\nb.example", "a b.example", "a;b.example", "a..example", "x\x00.example"} {
		chal := acme.Challenge{Type: acme.ChallengeDNS01, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: id}, KeyAuthorization: "token.thumb"}
		if name, _, err := RecordFor(chal); err == nil {
			t.Errorf("RecordFor(%q) = %q, want an error", id, name)
		}
	}
	chal := acme.Challenge{Type: acme.ChallengeDNS01, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "*.xn--bcher-kva.example"}, KeyAuthorization: "token.thumb"}
	if _, _, err := RecordFor(chal); err != nil {
		t.Errorf("RecordFor(wildcard punycode): %v", err)
	}
}
