package autotls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
)

func TestPatterns(t *testing.T) {
	p, err := compilePatterns([]string{"Shop.Example.COM.", "*.example.net"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"shop.example.com":   true,
		"example.com":        false,
		"a.shop.example.com": false,
		"a.example.net":      true,
		"example.net":        false,
		"a.b.example.net":    false,
		"localhost":          false,
	} {
		if got := p.match(name); got != want {
			t.Errorf("match(%q) = %v, want %v", name, got, want)
		}
	}
	if _, err := compilePatterns([]string{"a.*.example.com"}); err == nil {
		t.Error("a.*.example.com compiled")
	}
}

func TestLimiters(t *testing.T) {
	var l limiters
	l.init(Rate{Events: 3, Per: time.Hour}, Rate{Events: 2, Per: time.Hour})
	now := time.Now()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a.example.co.uk", true},
		{"b.example.co.uk", true},
		{"c.example.co.uk", false}, // domain example.co.uk spent; global keeps its token
		{"a.example.org", true},
		{"b.example.org", false}, // global spent
	} {
		err := l.allow(tc.name, now)
		if (err == nil) != tc.ok {
			t.Errorf("allow(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrRateLimited) {
			t.Errorf("allow(%q) = %v, not ErrRateLimited", tc.name, err)
		}
	}
	if err := l.allow("x.example.org", now.Add(time.Hour)); err != nil {
		t.Errorf("after an hour: %v", err)
	}
}

func TestNegCache(t *testing.T) {
	c := negCache{ttl: time.Minute}
	now := time.Now()
	c.put("x.example.com", errors.New("boom"), now)
	if c.get("x.example.com", now.Add(30*time.Second)) == nil {
		t.Error("forgotten within the TTL")
	}
	if c.get("x.example.com", now.Add(2*time.Minute)) != nil {
		t.Error("remembered past the TTL")
	}
}

func TestNormalizeSNI(t *testing.T) {
	for in, want := range map[string]string{"a.example.com": "a.example.com", "A.Example.com.": "a.example.com", "b.": "b"} {
		if got := normalizeSNI(in); got != want {
			t.Errorf("normalizeSNI(%q) = %q", in, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { normalizeSNI("www.example.com") }); n != 0 {
		t.Errorf("normalizeSNI allocates %v times", n)
	}
}

func newTestManager(t *testing.T) *manager.Manager {
	t.Helper()
	m, err := manager.New(manager.Config{Store: store.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRefusedWithoutPolicy(t *testing.T) {
	cfg := &Config{Manager: newTestManager(t)}
	hello := &tls.ClientHelloInfo{ServerName: "unknown.example.com"}
	if _, err := cfg.GetCertificate(hello); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("GetCertificate = %v, want ErrNotAllowed", err)
	}
	if _, err := cfg.GetCertificate(&tls.ClientHelloInfo{}); err == nil {
		t.Error("no SNI and no default: no error")
	}
}

func TestRedirectOnlyForServedHosts(t *testing.T) {
	var asked []string
	cfg := &Config{
		Manager:   newTestManager(t),
		HTTPSAddr: "127.0.0.1:8443",
		OnDemand: &OnDemandPolicy{
			Allow: []string{"*.allowed.example"},
			Decide: func(ctx context.Context, name string) error {
				asked = append(asked, name)
				if name == "customer.example" {
					return nil
				}
				return errors.New("not a customer")
			},
		},
	}
	if err := cfg.Validate(); err == nil {
		t.Fatal("OnDemand without Issuer validated")
	}
	// The redirect needs no issuer: build the state by hand.
	s := &state{cfg: cfg, policy: cfg.OnDemand, names: map[string]bool{"www.example.com": true}}
	s.allow, _ = compilePatterns(cfg.OnDemand.Allow)
	for _, tc := range []struct {
		host string
		want int
	}{
		{"www.example.com", http.StatusMovedPermanently},
		{"a.allowed.example", http.StatusMovedPermanently},
		{"customer.example", http.StatusMovedPermanently},
		{"evil.example", http.StatusNotFound},
		{"evil.example/x", http.StatusNotFound},
		{"www.example.com:8080", http.StatusMovedPermanently},
		{"b.a.allowed.example", http.StatusNotFound},
		{"A.ALLOWED.example:80", http.StatusMovedPermanently},
		{"[::1]:80", http.StatusNotFound},
		{"www.example.com.:1234", http.StatusMovedPermanently},
	} {
		r := httptest.NewRequest("GET", "http://x/p/a?q=1", nil)
		r.Host = tc.host
		w := httptest.NewRecorder()
		s.redirect(w, r)
		if w.Code != tc.want {
			t.Errorf("Host %q: %d, want %d", tc.host, w.Code, tc.want)
		}
		if tc.want == http.StatusMovedPermanently {
			loc := w.Header().Get("Location")
			if loc != "https://"+normalizeSNI(hostOnly(tc.host))+":8443/p/a?q=1" {
				t.Errorf("Host %q: Location %q", tc.host, loc)
			}
		}
	}
	if len(asked) != 3 || asked[0] != "customer.example" || asked[1] != "evil.example" {
		t.Errorf("Decide asked about %q", asked)
	}
	r := httptest.NewRequest("POST", "http://www.example.com/form", nil)
	w := httptest.NewRecorder()
	s.redirect(w, r)
	if w.Code != http.StatusPermanentRedirect {
		t.Errorf("POST: %d, want 308", w.Code)
	}
}

func hostOnly(h string) string {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] == ':' {
			return h[:i]
		}
	}
	return h
}

func TestHelloWithoutContext(t *testing.T) {
	cfg := &Config{
		Manager: newTestManager(t),
		Issuer:  &issue.Issuer{Client: &acme.Client{DirectoryURL: "https://ca.invalid/directory"}},
		OnDemand: &OnDemandPolicy{Decide: func(ctx context.Context, name string) error {
			if ctx == nil {
				t.Error("Decide got a nil context")
			}
			return errors.New("no")
		}},
	}
	// A hello made by hand has no context: no panic, a refusal.
	if _, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: "x.example.com"}); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("GetCertificate = %v", err)
	}
}

// An IP address in the SNI (or the Host header) is not a DNS name: the
// on-demand policy must refuse it before Decide, which is written for DNS
// names, is asked (an IP certificate would otherwise be ordered for it).
func TestOnDemandRefusesIPAddresses(t *testing.T) {
	var asked []string
	cfg := &Config{Manager: newTestManager(t), OnDemand: &OnDemandPolicy{
		Decide: func(ctx context.Context, name string) error { asked = append(asked, name); return nil },
	}}
	s := &state{cfg: cfg, policy: cfg.OnDemand}
	for _, name := range []string{"127.0.0.1", "192.0.2.10", "10.0.0.1."} {
		if err := s.allowed(context.Background(), normalizeSNI(name)); !errors.Is(err, ErrNotAllowed) {
			t.Errorf("allowed(%q) = %v, want ErrNotAllowed", name, err)
		}
	}
	if len(asked) != 0 {
		t.Errorf("Decide asked about %q", asked)
	}
	if err := s.allowed(context.Background(), "www.example.com"); err != nil {
		t.Errorf("allowed(www.example.com) = %v", err)
	}
}

// TestLimitersBounded fills the per-domain map with domains that all
// ordered recently: a new domain is refused, the map does not grow, and
// refusing it spends no global token.
func TestLimitersBounded(t *testing.T) {
	var l limiters
	l.init(Rate{Events: maxDomainLimiters + 10, Per: time.Second}, Rate{Events: 1, Per: time.Hour})
	now := time.Now()
	for i := range maxDomainLimiters {
		if err := l.allow(fmt.Sprintf("a.d%d.example", i), now); err != nil {
			t.Fatalf("domain %d: %v", i, err)
		}
	}
	before := l.global.TokensAt(now)
	if err := l.allow("a.new.example", now); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("a new domain with the map full of busy ones: %v, want ErrRateLimited", err)
	}
	if n := len(l.perDomain); n != maxDomainLimiters {
		t.Errorf("%d domain limiters, want the cap %d", n, maxDomainLimiters)
	}
	if after := l.global.TokensAt(now); after != before {
		t.Errorf("global tokens %v -> %v: a refusal spent one", before, after)
	}
	// An hour later the old buckets are full again, idle, and make room.
	if err := l.allow("a.new.example", now.Add(time.Hour)); err != nil {
		t.Errorf("after the domains went idle: %v", err)
	}
}
