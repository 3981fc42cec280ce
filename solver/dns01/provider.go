package dns01

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// Provider writes TXT records at a DNS host. Packages under
// github.com/certkeeper/certkeeper/dnsprovider implement it for RFC 2136,
// a script, a webhook and acme-dns; the libdnsadapter module adapts any
// libdns provider.
//
// AddTXT MUST add value to the TXT records at fqdn, keeping any already
// there: a wildcard and its base name are validated with two values at
// one name. RemoveTXT MUST delete that one value and no other record.
// Both MUST be safe for concurrent use. zone is the apex of the zone that
// holds fqdn (fully qualified, e.g. "example.com."), as found by the
// Solver; a provider MAY ignore it or find the zone itself when it is "".
// fqdn is fully qualified with a trailing dot.
type Provider interface {
	AddTXT(ctx context.Context, zone, fqdn, value string) error
	RemoveTXT(ctx context.Context, zone, fqdn, value string) error
}

// Solver turns a Provider into a challenge.Solver and challenge.Waiter for
// dns-01, dns-account-01 and dns-persist-01. For each challenge it
//
//   - follows the CNAMEs of the record's name (challenge.RecordFor) so that
//     a name delegated with "_acme-challenge.example.com CNAME
//     x.auth.example.net." is written where the CA will look;
//   - finds the zone holding that name (SOA queries) and has the Provider
//     add the value there;
//   - in Wait, checks that every authoritative server of the zone serves
//     the value (Propagation);
//   - in CleanUp, removes exactly the value it added.
//
// Use a *Solver; it is safe for concurrent use. Fields must not change
// after first use.
type Solver struct {
	// Provider writes the records. Required.
	Provider Provider
	// Resolver finds zones, follows CNAMEs and finds name servers. The
	// zero value uses /etc/resolv.conf.
	Resolver Resolver
	// NoCNAME writes the record at its own name without following CNAMEs.
	NoCNAME bool
	// Propagation configures the check made by Wait.
	Propagation Propagation
	// NoPropagationCheck makes Wait only sleep Propagation.Delay, for
	// hosts whose servers this one cannot reach.
	NoPropagationCheck bool
	// Logger receives a line per record written, checked and removed. nil
	// logs nothing.
	Logger *slog.Logger

	mu      sync.Mutex
	records map[string]placed
	// busy serialises Present and CleanUp of one record, so that a last
	// CleanUp and a new Present reach the Provider in the order they
	// counted: remove-then-add, never add-then-remove.
	busy map[string]*recordLock
}

type recordLock struct {
	sync.Mutex
	users int
}

// lockRecord takes the lock of the record key and returns its release.
func (s *Solver) lockRecord(key string) func() {
	s.mu.Lock()
	if s.busy == nil {
		s.busy = map[string]*recordLock{}
	}
	l := s.busy[key]
	if l == nil {
		l = &recordLock{}
		s.busy[key] = l
	}
	l.users++
	s.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		s.mu.Lock()
		if l.users--; l.users == 0 {
			delete(s.busy, key)
		}
		s.mu.Unlock()
	}
}

var (
	_ challenge.Solver = (*Solver)(nil)
	_ challenge.Waiter = (*Solver)(nil)
)

// placed is where Present wrote a challenge's record.
type placed struct {
	zone, fqdn, value string
	// refs counts the Presents not yet cleaned up: two orders sharing an
	// authorization present the same challenge, and the first CleanUp
	// must not remove the record the other still needs.
	refs int
}

func recordKey(chal acme.Challenge, name, value string) string {
	if chal.URL != "" {
		return chal.URL
	}
	return strings.ToLower(name) + " " + value
}

func (s *Solver) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Target returns where the record for chal is written: the fully
// qualified name at the end of its CNAME chain, the zone holding it and
// the value.
func (s *Solver) Target(ctx context.Context, chal acme.Challenge) (zone, fqdn, value string, err error) {
	name, value, err := challenge.RecordFor(chal)
	if err != nil {
		return "", "", "", fmt.Errorf("dns01: %w", err)
	}
	fqdn = name
	if !s.NoCNAME {
		chain, err := s.Resolver.FollowCNAME(ctx, name)
		if err != nil {
			return "", "", "", err
		}
		fqdn = chain[len(chain)-1]
	}
	zone, err = s.Resolver.FindZone(ctx, fqdn)
	if err != nil {
		return "", "", "", err
	}
	return zone, fqdn, value, nil
}

// Present adds the challenge's TXT record through the Provider.
func (s *Solver) Present(ctx context.Context, chal acme.Challenge) error {
	if s.Provider == nil {
		return fmt.Errorf("dns01: Solver.Provider is nil")
	}
	name, value, err := challenge.RecordFor(chal)
	if err != nil {
		return fmt.Errorf("dns01: %w", err)
	}
	key := recordKey(chal, name, value)
	defer s.lockRecord(key)()
	zone, fqdn, value, err := s.Target(ctx, chal)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := s.Provider.AddTXT(ctx, zone, fqdn, value); err != nil {
		return fmt.Errorf("dns01: adding TXT %s in zone %s: %w", fqdn, zone, err)
	}
	s.logger().InfoContext(ctx, "TXT record added", "name", name, "written_at", fqdn, "zone", zone, "took", time.Since(start))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.records == nil {
		s.records = map[string]placed{}
	}
	p := s.records[key]
	p.zone, p.fqdn, p.value = zone, fqdn, value
	p.refs++
	s.records[key] = p
	return nil
}

// lookup returns where Present wrote chal's record, or works it out again
// (for a Solver that did not present it).
func (s *Solver) lookup(ctx context.Context, chal acme.Challenge, remove bool) (placed, error) {
	name, value, err := challenge.RecordFor(chal)
	if err != nil {
		return placed{}, fmt.Errorf("dns01: %w", err)
	}
	key := recordKey(chal, name, value)
	s.mu.Lock()
	p, ok := s.records[key]
	if ok && remove {
		p.refs--
		if p.refs > 0 {
			s.records[key] = p
		} else {
			delete(s.records, key)
		}
	}
	s.mu.Unlock()
	if ok {
		return p, nil
	}
	zone, fqdn, value, err := s.Target(ctx, chal)
	return placed{zone: zone, fqdn: fqdn, value: value}, err
}

// Wait checks propagation (see Propagation.Wait) of the record Present
// added.
func (s *Solver) Wait(ctx context.Context, chal acme.Challenge) error {
	p, err := s.lookup(ctx, chal, false)
	if err != nil {
		return err
	}
	if s.NoPropagationCheck {
		return sleep(ctx, s.Propagation.Delay)
	}
	start := time.Now()
	prop := s.Propagation
	if prop.Logger == nil {
		prop.Logger = s.logger()
	}
	if err := prop.Wait(ctx, &s.Resolver, p.zone, p.fqdn, p.value); err != nil {
		return err
	}
	s.logger().InfoContext(ctx, "TXT record served by every authoritative server reached", "name", p.fqdn, "zone", p.zone, "took", time.Since(start))
	return nil
}

// CleanUp removes the record Present added, once every Present of the
// challenge has been cleaned up.
func (s *Solver) CleanUp(ctx context.Context, chal acme.Challenge) error {
	if s.Provider == nil {
		return fmt.Errorf("dns01: Solver.Provider is nil")
	}
	name, value, err := challenge.RecordFor(chal)
	if err != nil {
		return fmt.Errorf("dns01: %w", err)
	}
	defer s.lockRecord(recordKey(chal, name, value))()
	p, err := s.lookup(ctx, chal, true)
	if err != nil {
		return err
	}
	if p.refs > 0 {
		// Presented again and not yet cleaned up: still needed.
		return nil
	}
	if err := s.Provider.RemoveTXT(ctx, p.zone, p.fqdn, p.value); err != nil {
		return fmt.Errorf("dns01: removing TXT %s in zone %s: %w", p.fqdn, p.zone, err)
	}
	s.logger().InfoContext(ctx, "TXT record removed", "name", p.fqdn, "zone", p.zone)
	return nil
}
