package libdnsadapter_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libdns/libdns"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/dnsprovider/bindtest"
	"github.com/certkeeper/certkeeper/dnsprovider/libdnsadapter"
	"github.com/certkeeper/certkeeper/dnsprovider/rfc2136"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// bindLibdns is a libdns provider, written as a libdns provider author
// would, that stores records in BIND through RFC 2136. It insists on
// libdns's conventions: fully qualified zones, names relative to them.
type bindLibdns struct {
	up    *rfc2136.Provider
	mu    sync.Mutex
	calls []string
}

func (b *bindLibdns) check(zone string, recs []libdns.Record) error {
	if !strings.HasSuffix(zone, ".") {
		return fmt.Errorf("zone %q is not fully qualified", zone)
	}
	for _, r := range recs {
		rr := r.RR()
		if rr.Type != "TXT" || rr.Name == "" || strings.HasSuffix(rr.Name, ".") || rr.TTL <= 0 {
			return fmt.Errorf("bad record %+v", rr)
		}
	}
	return nil
}

func (b *bindLibdns) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	if err := b.check(zone, recs); err != nil {
		return nil, err
	}
	for _, r := range recs {
		rr := r.RR()
		b.mu.Lock()
		b.calls = append(b.calls, "append "+rr.Name+" "+zone)
		b.mu.Unlock()
		if err := b.up.AddTXT(ctx, zone, libdns.AbsoluteName(rr.Name, zone), rr.Data); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

func (b *bindLibdns) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	if err := b.check(zone, recs); err != nil {
		return nil, err
	}
	for _, r := range recs {
		rr := r.RR()
		b.mu.Lock()
		b.calls = append(b.calls, "delete "+rr.Name+" "+zone)
		b.mu.Unlock()
		if err := b.up.RemoveTXT(ctx, zone, libdns.AbsoluteName(rr.Name, zone), rr.Data); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

func TestAdapterThroughBIND(t *testing.T) {
	t.Parallel()
	s := bindtest.Start(t, bindtest.Options{
		Keys: []bindtest.Key{{Name: "libdns-key", Algorithm: "hmac-sha256"}},
		Zones: []bindtest.Zone{
			{Name: "example.test", Records: []string{"_acme-challenge.alias CNAME _acme-challenge.alias.other.test."}},
			{Name: "other.test"},
		},
	})
	k := s.Keys[0]
	lp := &bindLibdns{up: &rfc2136.Provider{Server: s.Addr, Key: rfc2136.Key{Name: k.Name, Algorithm: k.Algorithm, Secret: k.Secret}}}
	sv := &dns01.Solver{
		Provider:    libdnsadapter.New(lp),
		Resolver:    dns01.Resolver{Servers: []string{s.Addr}},
		Propagation: dns01.Propagation{Port: s.Port, Interval: 50 * time.Millisecond, Timeout: 3 * time.Second},
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	chal := func(domain, ka string) acme.Challenge {
		return acme.Challenge{Type: acme.ChallengeDNS01, URL: ka, KeyAuthorization: ka,
			Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: strings.TrimPrefix(domain, "*.")}, Wildcard: strings.HasPrefix(domain, "*.")}
	}
	chals := []acme.Challenge{chal("*.www.example.test", "a.t"), chal("www.example.test", "b.t"), chal("alias.example.test", "c.t")}
	for _, c := range chals {
		if err := sv.Present(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range chals {
		if err := sv.Wait(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := dns01.SelfCheck(ctx, s.Addr, c); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.TXT(t, "_acme-challenge.www.example.test"); len(got) != 2 {
		t.Errorf("wildcard and base: TXT = %q, want two values", got)
	}
	for _, c := range chals {
		if err := sv.CleanUp(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"_acme-challenge.www.example.test", "_acme-challenge.alias.other.test"} {
		if got := s.TXT(t, n); len(got) != 0 {
			t.Errorf("TXT left at %s: %q", n, got)
		}
	}
	slices.Sort(lp.calls)
	want := []string{
		"append _acme-challenge.alias other.test.", "append _acme-challenge.www example.test.", "append _acme-challenge.www example.test.",
		"delete _acme-challenge.alias other.test.", "delete _acme-challenge.www example.test.", "delete _acme-challenge.www example.test.",
	}
	if !slices.Equal(lp.calls, want) {
		t.Errorf("libdns calls %q, want %q", lp.calls, want)
	}
}

type failing struct{}

func (failing) AppendRecords(context.Context, string, []libdns.Record) ([]libdns.Record, error) {
	return nil, errors.New("API token lacks Zone.DNS edit")
}
func (failing) DeleteRecords(context.Context, string, []libdns.Record) ([]libdns.Record, error) {
	return nil, nil
}

func TestAdapterErrors(t *testing.T) {
	t.Parallel()
	p := libdnsadapter.New(failing{})
	err := p.AddTXT(context.Background(), "example.com.", "_acme-challenge.example.com.", "v")
	if err == nil || !strings.Contains(err.Error(), "API token lacks") || !strings.Contains(err.Error(), "_acme-challenge in zone example.com.") {
		t.Errorf("got %v", err)
	}
	if err := p.AddTXT(context.Background(), "example.com.", "_acme-challenge.example.org.", "v"); err == nil {
		t.Error("name outside zone: want an error")
	}
	if err := p.AddTXT(context.Background(), "", "_acme-challenge.example.org.", "v"); err == nil {
		t.Error("no zone: want an error")
	}
}
