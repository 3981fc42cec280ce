package dns01

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

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

// ZoneOptional is implemented by a Provider for which the zone is only a
// hint: one that finds the zone itself (rfc2136 asks its own server),
// passes it on to a program that may ignore it (exec, webhook), or does
// not use it (acmedns). ZoneOptional reports whether that is so.
//
// When the zone of a record cannot be found (a resolver that answers SOA
// queries with NOTIMP or REFUSED, say) the Solver calls such a Provider
// with zone "" instead of failing, and logs why, unless the propagation
// check needs the zone to find its name servers. A Provider without the
// method needs the zone: the Solver fails when it cannot find it.
// Solver.Zones gives zones without any lookup.
type ZoneOptional interface {
	ZoneOptional() bool
}

// Solver turns a Provider into a challenge.Solver and challenge.Waiter for
// dns-01, dns-account-01 and dns-persist-01. For each challenge it
//
//   - follows the CNAMEs of the record's name (challenge.RecordFor) so that
//     a name delegated with "_acme-challenge.example.com CNAME
//     x.auth.example.net." is written where the CA will look;
//   - finds the zone holding that name (Zones, else SOA queries) and has
//     the Provider add the value there (a ZoneOptional Provider also
//     without the zone, when it cannot be found and the propagation
//     check does not need it);
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
	// Zones are zones the Provider writes in, such as "example.com": a
	// record whose name is in one of them is in the longest of those, and
	// no SOA query is made for it. Names in none of them have their zone
	// found by SOA queries through Resolver. Give them when the resolvers
	// do not answer SOA queries, or to skip the lookups.
	Zones []string
	// Propagation configures the check made by Wait.
	Propagation Propagation
	// NoPropagationCheck makes Wait only sleep Propagation.Delay, for
	// hosts whose servers this one cannot reach.
	NoPropagationCheck bool
	// Logger receives a line per record written, checked and removed, and
	// the progress of Wait (see Propagation.Logger; with
	// NoPropagationCheck, a line before a delay of a second or more). nil
	// logs nothing.
	Logger *slog.Logger
	// Names, if set, names the Solver's fields in its errors (see
	// ZoneError) as the program's user knows them: a flag ("-dns-zone")
	// or a file's key for "Zones", "Propagation.Servers" and
	// "NoPropagationCheck"; "" leaves the plain words.
	Names func(field string) string

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
// the value. The zone is "" when it could not be found and nothing needs
// it (see ZoneOptional).
func (s *Solver) Target(ctx context.Context, chal acme.Challenge) (zone, fqdn, value string, err error) {
	zone, fqdn, value, _, err = s.target(ctx, chal)
	return zone, fqdn, value, err
}

// target is Target, also returning why the zone is "" (the lookup's
// error) when it could not be found but is not needed.
func (s *Solver) target(ctx context.Context, chal acme.Challenge) (zone, fqdn, value string, noZone, err error) {
	name, value, err := challenge.RecordFor(chal)
	if err != nil {
		return "", "", "", nil, fmt.Errorf("dns01: %w", err)
	}
	fqdn = dns.Fqdn(name)
	if !s.NoCNAME {
		chain, err := s.Resolver.FollowCNAME(ctx, name)
		if err != nil {
			return "", "", "", nil, err
		}
		fqdn = chain[len(chain)-1]
	}
	if zone = s.givenZone(fqdn); zone != "" {
		return zone, fqdn, value, nil, nil
	}
	zone, err = s.Resolver.FindZone(ctx, fqdn)
	if err == nil {
		return zone, fqdn, value, nil, nil
	}
	if need := s.needsZone(); need != "" {
		return "", "", "", nil, &ZoneError{FQDN: fqdn, Err: err, Need: need, names: s.Names}
	}
	return "", fqdn, value, err, nil
}

// ZoneError is Present's (and Target's) error when the zone of a record
// could not be found and something needs it. It unwraps to the lookup's
// error.
type ZoneError struct {
	// FQDN is where the record is written (after CNAMEs).
	FQDN string
	// Err is why the zone lookup failed.
	Err error
	// Need is what needs the zone: NeedProvider or NeedPropagation.
	Need string

	names func(string) string // Solver.Names
}

// What needs a ZoneError's zone.
const (
	// NeedProvider: the Provider needs the zone (it is not ZoneOptional).
	NeedProvider = "provider"
	// NeedPropagation: the propagation check needs it to find the name
	// servers to ask.
	NeedPropagation = "propagation"
)

// Error reads "ERR, and the provider needs it: give the zone the record
// is in (-dns-zone)", the fields named as Solver.Names names them.
func (e *ZoneError) Error() string {
	name := func(field, words string) string {
		if e.names != nil {
			if n := e.names(field); n != "" {
				return words + " (" + n + ")"
			}
		}
		return words
	}
	zone := name("Zones", "give the zone the record is in")
	if e.Need == NeedProvider {
		return fmt.Sprintf("%v, and the provider needs it: %s", e.Err, zone)
	}
	return fmt.Sprintf("%v, and the propagation check needs it to find the name servers: %s, or %s, or %s", e.Err, zone,
		name("Propagation.Servers", "the name servers to check"), name("NoPropagationCheck", "turn the check off"))
}

// Unwrap returns Err.
func (e *ZoneError) Unwrap() error { return e.Err }

// givenZone returns the longest of Zones that holds fqdn, or "".
func (s *Solver) givenZone(fqdn string) string {
	best := ""
	for _, z := range s.Zones {
		z = strings.ToLower(strings.TrimSpace(z))
		if strings.Trim(z, ".") == "" {
			continue
		}
		z = dns.Fqdn(z)
		if dns.IsSubDomain(z, fqdn) && dns.CountLabel(z) > dns.CountLabel(best) {
			best = z
		}
	}
	return best
}

// needsZone says what needs the zone of a record (NeedProvider,
// NeedPropagation), or "" when nothing does.
func (s *Solver) needsZone() string {
	if zo, ok := s.Provider.(ZoneOptional); !ok || !zo.ZoneOptional() {
		return NeedProvider
	}
	if !s.NoPropagationCheck && len(s.Propagation.Servers) == 0 {
		return NeedPropagation
	}
	return ""
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
	zone, fqdn, value, noZone, err := s.target(ctx, chal)
	if err != nil {
		return err
	}
	if noZone != nil {
		s.logger().WarnContext(ctx, "zone not found: the provider is run without it", "name", name, "written_at", fqdn, "error", noZone)
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
		return pause(ctx, s.logger(), s.Propagation.Delay, "waiting for the TXT record to propagate (no check)",
			slog.String("name", p.fqdn), slog.String("zone", p.zone), slog.String("identifier", identifierOf(chal)))
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
