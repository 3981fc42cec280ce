package dns01_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/dnsprovider/bindtest"
	"github.com/certkeeper/certkeeper/dnsprovider/rfc2136"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// startZones starts BIND with zone A (example.test) delegating names by
// CNAME into zone B (other.test).
func startZones(t *testing.T) *bindtest.Server {
	t.Helper()
	return bindtest.Start(t, bindtest.Options{
		Keys: []bindtest.Key{{Name: "acme-key"}},
		Zones: []bindtest.Zone{
			{Name: "example.test", Records: []string{
				"_acme-challenge.delegated CNAME d1.auth.other.test.",
				"_acme-challenge.twohops CNAME hop.example.test.",
				"hop CNAME d2.auth.other.test.",
				"_acme-challenge.loop CNAME loop2.example.test.",
				"loop2 CNAME _acme-challenge.loop.example.test.",
			}},
			{Name: "other.test"},
		},
	})
}

func solverFor(s *bindtest.Server) *dns01.Solver {
	k := s.Keys[0]
	return &dns01.Solver{
		Provider:    &rfc2136.Provider{Server: s.Addr, Key: rfc2136.Key{Name: k.Name, Algorithm: k.Algorithm, Secret: k.Secret}},
		Resolver:    dns01.Resolver{Servers: []string{s.Addr}},
		Propagation: dns01.Propagation{Port: s.Port, Interval: 50 * time.Millisecond, Timeout: 3 * time.Second},
	}
}

// lineSignal is a log writer that closes seen at the first line
// containing want.
type lineSignal struct {
	want string
	seen chan struct{}
	once sync.Once
}

func (w *lineSignal) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func dnsChal(domain, keyAuth string) acme.Challenge {
	return acme.Challenge{
		Type:             acme.ChallengeDNS01,
		URL:              "https://ca.test/chal/" + keyAuth,
		Identifier:       acme.Identifier{Type: acme.IdentifierDNS, Value: strings.TrimPrefix(domain, "*.")},
		Wildcard:         strings.HasPrefix(domain, "*."),
		KeyAuthorization: keyAuth,
	}
}

func TestResolver(t *testing.T) {
	t.Parallel()
	s := startZones(t)
	r := dns01.Resolver{Servers: []string{s.Addr}}
	ctx := testCtx(t)
	for name, want := range map[string]string{
		"_acme-challenge.www.example.test.": "example.test.",
		"d1.auth.other.test":                "other.test.",
		"other.test.":                       "other.test.",
	} {
		if got, err := r.FindZone(ctx, name); err != nil || got != want {
			t.Errorf("FindZone(%s) = %q, %v; want %s", name, got, err, want)
		}
	}
	chain, err := r.FollowCNAME(ctx, "_acme-challenge.twohops.example.test")
	if want := []string{"_acme-challenge.twohops.example.test.", "hop.example.test.", "d2.auth.other.test."}; err != nil || !slices.Equal(chain, want) {
		t.Errorf("FollowCNAME = %q, %v; want %q", chain, err, want)
	}
	chain, err = r.FollowCNAME(ctx, "_acme-challenge.plain.example.test")
	if err != nil || len(chain) != 1 {
		t.Errorf("FollowCNAME without CNAME = %q, %v", chain, err)
	}
	_, err = r.FollowCNAME(ctx, "_acme-challenge.loop.example.test")
	if !errors.Is(err, dns01.ErrCNAMELoop) {
		t.Errorf("FollowCNAME on a loop: %v, want ErrCNAMELoop", err)
	}
	ns, err := r.NameServers(ctx, "other.test.", s.Port)
	if want := fmt.Sprintf("127.0.0.1:%d", s.Port); err != nil || len(ns) != 1 || ns[0].Host != "ns1.other.test." || ns[0].Addr != want {
		t.Errorf("NameServers = %v, %v", ns, err)
	}
}

func TestSolverWildcardAndBase(t *testing.T) {
	t.Parallel()
	s := startZones(t)
	sv := solverFor(s)
	ctx := testCtx(t)
	chals := []acme.Challenge{dnsChal("*.www.example.test", "wild.thumb"), dnsChal("www.example.test", "base.thumb")}
	start := time.Now()
	for _, c := range chals {
		if err := sv.Present(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("two Present (CNAME + SOA lookups + signed update each): %v", time.Since(start))
	start = time.Now()
	for _, c := range chals {
		if err := sv.Wait(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("two Wait (NS lookup + authoritative TXT query): %v", time.Since(start))
	got := s.TXT(t, "_acme-challenge.www.example.test")
	want := []string{challenge.DNS01Value("wild.thumb"), challenge.DNS01Value("base.thumb")}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("TXT = %q, want %q", got, want)
	}
	if err := sv.CleanUp(ctx, chals[0]); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT(t, "_acme-challenge.www.example.test"); !slices.Equal(got, []string{challenge.DNS01Value("base.thumb")}) {
		t.Fatalf("after one clean-up TXT = %q", got)
	}
	if err := sv.CleanUp(ctx, chals[1]); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT(t, "_acme-challenge.www.example.test"); len(got) != 0 {
		t.Fatalf("TXT left after clean-up: %q", got)
	}
}

func TestSolverCNAMEDelegation(t *testing.T) {
	t.Parallel()
	s := startZones(t)
	sv := solverFor(s)
	ctx := testCtx(t)
	c := dnsChal("twohops.example.test", "k.thumb")
	zone, fqdn, _, err := sv.Target(ctx, c)
	if err != nil || zone != "other.test." || fqdn != "d2.auth.other.test." {
		t.Fatalf("Target = %s %s %v", zone, fqdn, err)
	}
	if err := sv.Present(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := sv.Wait(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT(t, "d2.auth.other.test"); !slices.Equal(got, []string{challenge.DNS01Value("k.thumb")}) {
		t.Fatalf("TXT in zone B = %q", got)
	}
	// What the CA sees through a resolver: the CNAME chain ends at the value.
	if err := dns01.SelfCheck(ctx, s.Addr, c); err != nil {
		t.Errorf("SelfCheck: %v", err)
	}
	if err := sv.CleanUp(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT(t, "d2.auth.other.test"); len(got) != 0 {
		t.Fatalf("TXT left in zone B: %q", got)
	}
	if err := sv.Present(ctx, dnsChal("loop.example.test", "x")); !errors.Is(err, dns01.ErrCNAMELoop) {
		t.Errorf("Present on a CNAME loop: %v, want ErrCNAMELoop", err)
	}
}

// TestPropagationNamesServers has a second "authoritative" server that
// never gets the record: the error must say who answered what.
func TestPropagationNamesServers(t *testing.T) {
	t.Parallel()
	s := startZones(t)
	stale := acmetest.NewTestDNSServer(t)
	stale.AddTXT("_acme-challenge.lag.example.test", "old-value")
	sv := solverFor(s)
	sv.Propagation = dns01.Propagation{Servers: []string{s.Addr, stale.Addr()}, Interval: 50 * time.Millisecond, Timeout: 500 * time.Millisecond}
	c := dnsChal("lag.example.test", "k.thumb")
	ctx := testCtx(t)
	if err := sv.Present(ctx, c); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := sv.Wait(ctx, c)
	var pe *dns01.PropagationError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a PropagationError", err)
	}
	t.Logf("gave up after %v: %v", time.Since(start), err)
	if !errors.Is(err, context.DeadlineExceeded) || pe.Checks < 2 {
		t.Errorf("checks %d, err %v", pe.Checks, err)
	}
	msg := err.Error()
	for _, want := range []string{stale.Addr(), `["old-value"]`, "served by " + s.Addr, "_acme-challenge.lag.example.test."} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	if err := sv.CleanUp(ctx, c); err != nil {
		t.Fatal(err)
	}
	// A record that never appears anywhere, and a recursive resolver.
	sv.Propagation = dns01.Propagation{Port: s.Port, Resolvers: []string{stale.Addr()}, Interval: 50 * time.Millisecond, Timeout: 300 * time.Millisecond}
	err = sv.Wait(ctx, dnsChal("never.example.test", "k.thumb"))
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "ns1.example.test. (127.0.0.1:") || !strings.Contains(err.Error(), "NXDOMAIN") || !strings.Contains(err.Error(), "resolver "+stale.Addr()) {
		t.Errorf("got %v", err)
	}
}

func TestPropagationHonoursContext(t *testing.T) {
	t.Parallel()
	s := startZones(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	p := dns01.Propagation{Servers: []string{s.Addr}}
	if err := p.Wait(ctx, &dns01.Resolver{Servers: []string{s.Addr}}, "example.test.", "_acme-challenge.example.test.", "v"); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

// TestPropagationLaggingSecondary has two real BIND servers for one zone:
// the primary gets the update, the other (a secondary that missed the
// NOTIFY) keeps serial 1. The check must wait, then name the lagging one.
func TestPropagationLaggingSecondary(t *testing.T) {
	t.Parallel()
	primary := startZones(t)
	secondary := bindtest.Start(t, bindtest.Options{Keys: primary.Keys, Zones: []bindtest.Zone{{Name: "example.test"}, {Name: "other.test"}}})
	sv := solverFor(primary)
	sv.Propagation = dns01.Propagation{Servers: []string{primary.Addr, secondary.Addr}, Interval: 50 * time.Millisecond, Timeout: 400 * time.Millisecond}
	ctx := testCtx(t)
	c := dnsChal("www.example.test", "lag.thumb")
	if err := sv.Present(ctx, c); err != nil {
		t.Fatal(err)
	}
	err := sv.Wait(ctx, c)
	var pe *dns01.PropagationError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a PropagationError", err)
	}
	if !strings.Contains(err.Error(), secondary.Addr+" answered NXDOMAIN with no TXT record") || !strings.Contains(err.Error(), "served by "+primary.Addr) {
		t.Errorf("error does not name the lagging server: %v", err)
	}
	// The secondary catches up (here: the same update, sent to it) once
	// Wait has seen it lag: Wait returns once both serve the value.
	k := primary.Keys[0]
	up := &rfc2136.Provider{Server: secondary.Addr, Key: rfc2136.Key{Name: k.Name, Algorithm: k.Algorithm, Secret: k.Secret}}
	_, fqdn, value, _ := sv.Target(ctx, c)
	lagged := &lineSignal{want: "not yet served", seen: make(chan struct{})}
	sv.Propagation.Logger = slog.New(slog.NewTextHandler(lagged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var adding atomic.Bool
	go func() {
		select {
		case <-lagged.seen:
		case <-ctx.Done():
			return
		}
		adding.Store(true)
		if err := up.AddTXT(ctx, "", fqdn, value); err != nil {
			t.Error(err)
		}
	}()
	sv.Propagation.Timeout = 10 * time.Second
	if err := sv.Wait(ctx, c); err != nil {
		t.Fatal(err)
	}
	if !adding.Load() {
		t.Error("Wait returned before the secondary had the record")
	}
	if err := sv.CleanUp(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// Two orders sharing an authorization present the same challenge; the
// first CleanUp must leave the record the other order still needs.
func TestSolverSameChallengeTwice(t *testing.T) {
	t.Parallel()
	s := startZones(t)
	sv := solverFor(s)
	ctx := testCtx(t)
	c := dnsChal("shared.example.test", "shared.thumb")
	for range 2 {
		if err := sv.Present(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{challenge.DNS01Value("shared.thumb")}
	if err := sv.CleanUp(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT(t, "_acme-challenge.shared.example.test"); !slices.Equal(got, want) {
		t.Fatalf("after the first of two clean-ups TXT = %q, want %q", got, want)
	}
	if err := sv.CleanUp(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT(t, "_acme-challenge.shared.example.test"); len(got) != 0 {
		t.Fatalf("TXT left after the last clean-up: %q", got)
	}
}

// slowRemove delays RemoveTXT until release is closed, and says when a
// removal has started.
type slowRemove struct {
	dns01.Provider
	started chan struct{}
	release chan struct{}
}

func (p *slowRemove) RemoveTXT(ctx context.Context, zone, fqdn, value string) error {
	close(p.started)
	<-p.release
	return p.Provider.RemoveTXT(ctx, zone, fqdn, value)
}

// TestSolverPresentDuringLastCleanUp presents a challenge again while its
// last clean-up is removing the record: the new Present must wait, so the
// record is there at the end (remove-then-add, never add-then-remove).
func TestSolverPresentDuringLastCleanUp(t *testing.T) {
	t.Parallel()
	s := startZones(t)
	sv := solverFor(s)
	slow := &slowRemove{Provider: sv.Provider, started: make(chan struct{}), release: make(chan struct{})}
	sv.Provider = slow
	ctx := testCtx(t)
	c := dnsChal("again.example.test", "again.thumb")
	if err := sv.Present(ctx, c); err != nil {
		t.Fatal(err)
	}
	cleaned := make(chan error, 1)
	go func() { cleaned <- sv.CleanUp(ctx, c) }()
	<-slow.started
	presented := make(chan error, 1)
	go func() { presented <- sv.Present(ctx, c) }()
	select {
	case err := <-presented:
		t.Fatalf("Present returned (%v) while the last clean-up was still removing the record", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(slow.release)
	if err := <-cleaned; err != nil {
		t.Fatal(err)
	}
	if err := <-presented; err != nil {
		t.Fatal(err)
	}
	want := []string{challenge.DNS01Value("again.thumb")}
	if got := s.TXT(t, "_acme-challenge.again.example.test"); !slices.Equal(got, want) {
		t.Fatalf("TXT = %q after remove and re-present, want %q", got, want)
	}
}
