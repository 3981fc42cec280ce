package acmedns_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/dnsprovider/acmedns"
	"github.com/certkeeper/certkeeper/dnsprovider/bindtest"
	"github.com/certkeeper/certkeeper/dnsprovider/rfc2136"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

var (
	_ dns01.Provider     = (*acmedns.Provider)(nil)
	_ dns01.ZoneOptional = (*acmedns.Provider)(nil)
)

// stub speaks acme-dns's API (register, update) and publishes each
// account's two latest values in BIND, as acme-dns serves them.
type stub struct {
	t        *testing.T
	domain   string // e.g. "auth.other.test"
	dns      *rfc2136.Provider
	mu       sync.Mutex
	accounts map[string]acmedns.Account // by username
	values   map[string][]string        // by subdomain
	n        int
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, e string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error": %q}`, e)
	}
	if r.Method != http.MethodPost {
		fail(405, "method")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.URL.Path {
	case "/register":
		s.n++
		sub := fmt.Sprintf("sub%d", s.n)
		a := acmedns.Account{Username: fmt.Sprintf("user%d", s.n), Password: fmt.Sprintf("pass%d", s.n), SubDomain: sub, FullDomain: sub + "." + s.domain, AllowFrom: []string{}}
		s.accounts[a.Username] = a
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(a)
	case "/update":
		a, ok := s.accounts[r.Header.Get("X-Api-User")]
		if !ok || a.Password != r.Header.Get("X-Api-Key") {
			fail(401, "forbidden")
			return
		}
		var req struct{ Subdomain, Txt string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Subdomain != a.SubDomain {
			fail(401, "forbidden")
			return
		}
		if len(req.Txt) != 43 {
			fail(400, "bad_txt")
			return
		}
		fqdn := a.FullDomain + "."
		vals := append(s.values[a.SubDomain], req.Txt)
		if len(vals) > 2 {
			if err := s.dns.RemoveTXT(r.Context(), "", fqdn, vals[0]); err != nil {
				fail(500, err.Error())
				return
			}
			vals = vals[1:]
		}
		if err := s.dns.AddTXT(r.Context(), "", fqdn, req.Txt); err != nil {
			fail(500, err.Error())
			return
		}
		s.values[a.SubDomain] = vals
		json.NewEncoder(w).Encode(map[string]string{"txt": req.Txt})
	default:
		fail(404, "not found")
	}
}

func TestAcmeDNSWithCNAMEThroughBIND(t *testing.T) {
	t.Parallel()
	b := bindtest.Start(t, bindtest.Options{
		Keys: []bindtest.Key{{Name: "acme-dns-key"}},
		Zones: []bindtest.Zone{
			// The user's zone delegates to acme-dns with a CNAME made after
			// registering (sub1 is the stub's first subdomain).
			{Name: "example.test", Records: []string{"_acme-challenge CNAME sub1.auth.other.test."}},
			{Name: "other.test"},
		},
	})
	k := b.Keys[0]
	st := &stub{t: t, domain: "auth.other.test", accounts: map[string]acmedns.Account{}, values: map[string][]string{},
		dns: &rfc2136.Provider{Server: b.Addr, Key: rfc2136.Key{Name: k.Name, Algorithm: k.Algorithm, Secret: k.Secret}}}
	srv := httptest.NewServer(st)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	c := &acmedns.Client{Server: srv.URL}
	acct, err := c.Register(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if acct.FullDomain != "sub1.auth.other.test" {
		t.Fatalf("registered %+v", acct)
	}
	// Round-trip through the storage format other clients use.
	data, _ := json.Marshal(map[string]acmedns.Account{"example.test": acct})
	accounts, err := acmedns.LoadAccounts(data)
	if err != nil {
		t.Fatal(err)
	}
	sv := &dns01.Solver{
		Provider:    &acmedns.Provider{Client: c, Accounts: accounts},
		Resolver:    dns01.Resolver{Servers: []string{b.Addr}},
		Propagation: dns01.Propagation{Port: b.Port, Interval: 50 * time.Millisecond, Timeout: 3 * time.Second},
	}
	var chals []acme.Challenge
	for i := range 2 {
		chals = append(chals, acme.Challenge{Type: acme.ChallengeDNS01, URL: fmt.Sprint("c", i),
			Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "example.test"}, Wildcard: i == 1,
			KeyAuthorization: fmt.Sprint("token", i, ".thumb")})
	}
	for _, ch := range chals {
		if err := sv.Present(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	for _, ch := range chals {
		if err := sv.Wait(ctx, ch); err != nil {
			t.Fatal(err)
		}
		if err := dns01.SelfCheck(ctx, b.Addr, ch); err != nil {
			t.Fatal(err)
		}
		if err := sv.CleanUp(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	got := b.TXT(t, "sub1.auth.other.test")
	want := []string{challenge.DNS01Value("token0.thumb"), challenge.DNS01Value("token1.thumb")}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("acme-dns zone holds %q, want the two latest values %q", got, want)
	}
}

func TestAcmeDNSErrors(t *testing.T) {
	t.Parallel()
	st := &stub{t: t, domain: "auth.x", accounts: map[string]acmedns.Account{}, values: map[string][]string{}}
	srv := httptest.NewServer(st)
	defer srv.Close()
	c := &acmedns.Client{Server: srv.URL}
	ctx := context.Background()
	err := c.Update(ctx, acmedns.Account{Username: "nobody", Password: "x", SubDomain: "s"}, "v")
	var ae *acmedns.Error
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "forbidden" {
		t.Fatalf("got %v, want 401 forbidden", err)
	}
	acct, err := c.Register(ctx, []string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, acct, "short"); !errors.As(err, &ae) || ae.Code != "bad_txt" {
		t.Fatalf("got %v, want bad_txt", err)
	}
	p := &acmedns.Provider{Client: c, Accounts: map[string]acmedns.Account{"example.test": acct}}
	if err := p.AddTXT(ctx, "", "_acme-challenge.unknown.test.", "v"); err == nil {
		t.Fatal("no account: want an error")
	}
	if _, err := acmedns.LoadAccounts([]byte(`{"example.test": {"username": "u"}}`)); err == nil {
		t.Fatal("incomplete account: want an error")
	}
}
