package dns01

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/certkeeper/certkeeper/internal/progress"
)

// Propagation checks that a TXT record has reached every authoritative
// server of its zone before the CA is told to look: the CA asks whichever
// server it reaches, and one lagging secondary fails the validation. The
// zero value asks every address of every NS of the zone on port 53,
// every 2 s, for up to 2 minutes.
//
// A server lags only when it answers without the value. A server with
// several addresses (an IPv4 and an IPv6 one, say) counts as one: it
// passes when every address that answers serves the value and at least
// one does. An address that cannot be reached (network unreachable,
// connection refused: at once; a timeout: twice in a row) is reported,
// in the log and in the error, and is not asked again: it does not hold
// up the check, so an IPv6 address on an IPv4-only host costs nothing.
// When no authoritative server can be reached at all, Wait fails at once
// with ErrUnreachable.
type Propagation struct {
	// Servers, if set, are asked (host:port) instead of the zone's NS
	// records: for a hidden primary, a test server on another port, or
	// servers the NS records do not name.
	Servers []string
	// Port is the port of the servers found through NS records. 0 means 53.
	Port int
	// Resolvers are recursive resolvers (host:port) that must also return
	// the record, e.g. "8.8.8.8:53". They answer from their cache, so a
	// name they looked up recently may take its negative TTL to appear.
	Resolvers []string
	// Delay is waited before the first check. 0 means none.
	Delay time.Duration
	// Interval between checks. 0 means 2 s.
	Interval time.Duration
	// Timeout gives up after this long, in addition to the context. 0
	// means 2 minutes.
	Timeout time.Duration
	// QueryTimeout bounds each query. 0 means 5 s.
	QueryTimeout time.Duration
	// Logger receives the progress of the check: a warning for each
	// address given up as unreachable, a line for each check that is not
	// yet complete, saying which servers still miss the record (Info for
	// the first and then at most one every few seconds, Debug for the
	// others), and an Info line before a Delay of a second or more. nil
	// logs nothing (a Solver passes its own).
	Logger *slog.Logger

	// exchange replaces Exchange (tests).
	exchange func(ctx context.Context, server string, m *dns.Msg, timeout time.Duration) (*dns.Msg, error)
}

// ErrUnreachable is wrapped by the *PropagationError of a check that
// could reach none of the authoritative servers.
var ErrUnreachable = errors.New("no authoritative server could be reached")

// ended reports whether ctx is done or past its deadline: the net
// package times a dial out at the deadline itself, before ctx.Err says
// so.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// unreachableAfter is how many checks in a row an address may go without
// an answer (timing out, say) before it is given up as unreachable.
const unreachableAfter = 2

// ServerAnswer is what one server said when asked for the record.
type ServerAnswer struct {
	// Server is the server asked.
	Server NameServer
	// Resolver is true for a recursive resolver from Propagation.Resolvers.
	Resolver bool
	// Rcode is the answer's response code, e.g. "NOERROR", "NXDOMAIN";
	// "" when no answer came.
	Rcode string
	// TXT are the TXT strings at the name, each record's strings joined.
	TXT []string
	// Err is the transport error when no answer came.
	Err error
	// OK reports whether the value was among TXT.
	OK bool
	// Unreachable reports that the address was given up: Err said it
	// cannot be reached, or it timed out in several checks in a row. It
	// was not asked again and did not hold up the check.
	Unreachable bool
}

func (a ServerAnswer) String() string {
	who := a.Server.String()
	if a.Resolver {
		who = "resolver " + who
	}
	switch {
	case a.Err != nil && a.Unreachable:
		return fmt.Sprintf("%s: unreachable (%v)", who, a.Err)
	case a.Err != nil:
		return fmt.Sprintf("%s: no answer (%v)", who, a.Err)
	case len(a.TXT) == 0:
		return fmt.Sprintf("%s answered %s with no TXT record", who, a.Rcode)
	default:
		return fmt.Sprintf("%s answered %q", who, a.TXT)
	}
}

// PropagationError is returned when the record did not reach every server
// in time, or when no server could be reached. It lists what each server
// answered last.
type PropagationError struct {
	FQDN, Value string
	Zone        string
	Elapsed     time.Duration
	Checks      int
	Answers     []ServerAnswer
	// Err is why the wait ended: context.DeadlineExceeded,
	// context.Canceled or ErrUnreachable.
	Err error
}

func (e *PropagationError) Error() string {
	var lagging, unreachable, ok []string
	for _, a := range e.Answers {
		switch {
		case a.OK:
			ok = append(ok, a.Server.String())
		case a.Err != nil:
			unreachable = append(unreachable, a.String())
		default:
			lagging = append(lagging, a.String())
		}
	}
	where := "every server of zone " + e.Zone
	if e.Zone == "" {
		where = "every server asked"
	}
	parts := lagging
	if len(unreachable) > 0 {
		parts = append(parts, "not reached: "+strings.Join(unreachable, "; "))
	}
	if len(ok) > 0 {
		parts = append(parts, "served by "+strings.Join(ok, ", "))
	}
	s := fmt.Sprintf("dns01: TXT %s %q not served by %s after %v (%d checks)",
		e.FQDN, e.Value, where, e.Elapsed.Round(time.Millisecond), e.Checks)
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, "; ")
	}
	return s + ": " + e.Err.Error()
}

func (e *PropagationError) Unwrap() error { return e.Err }

// servers returns the servers Wait asks for zone: Servers if set,
// else the addresses of the zone's NS records found through r.
func (p Propagation) servers(ctx context.Context, r *Resolver, zone string) ([]NameServer, error) {
	if len(p.Servers) > 0 {
		out := make([]NameServer, len(p.Servers))
		for i, s := range p.Servers {
			out[i] = NameServer{Addr: s}
		}
		return out, nil
	}
	if zone == "" {
		return nil, errors.New("dns01: propagation check: the zone is unknown, so its name servers cannot be found: give the zone or the name servers to check")
	}
	return r.NameServers(ctx, zone, p.Port)
}

// target is one address asked in the check, and what it said last.
type target struct {
	ServerAnswer
	// key groups the addresses of one server: its host name, or its
	// address when it has none.
	key      string
	fails    int  // checks in a row without an answer
	reported bool // given up and logged
}

// Wait returns once every authoritative server of zone (and every one of
// Resolvers) serves value in the TXT records at fqdn, asking them all
// again every Interval; see Propagation for how servers with several
// addresses and unreachable addresses count. It finds the servers
// through r. On timeout it returns a *PropagationError naming each server
// and its last answer; when no authoritative server can be reached, it
// returns one wrapping ErrUnreachable at once.
func (p Propagation) Wait(ctx context.Context, r *Resolver, zone, fqdn, value string) error {
	start := time.Now()
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	interval := p.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	said := progress.NewThrottle(start)
	if p.Delay >= progress.Threshold {
		log.LogAttrs(ctx, slog.LevelInfo, "waiting before checking that the TXT record is served",
			slog.String("name", dns.Fqdn(fqdn)), slog.String("zone", zone), progress.NextIn(p.Delay))
		said.Mark(start)
	}
	if err := sleep(ctx, p.Delay); err != nil {
		return fmt.Errorf("dns01: waiting %v before checking %s: %w", p.Delay, fqdn, err)
	}
	servers, err := p.servers(ctx, r, zone)
	if err != nil {
		return err
	}
	targets := make([]*target, 0, len(servers)+len(p.Resolvers))
	for _, ns := range servers {
		key := ns.Host
		if key == "" {
			key = ns.Addr
		}
		targets = append(targets, &target{ServerAnswer: ServerAnswer{Server: ns}, key: key})
	}
	for _, res := range p.Resolvers {
		targets = append(targets, &target{ServerAnswer: ServerAnswer{Server: NameServer{Addr: res}, Resolver: true}, key: "resolver " + res})
	}
	fail := func(checks int, err error) error {
		answers := make([]ServerAnswer, len(targets))
		for i, t := range targets {
			answers[i] = t.ServerAnswer
		}
		return &PropagationError{FQDN: dns.Fqdn(fqdn), Value: value, Zone: zone, Elapsed: time.Since(start), Checks: checks, Answers: answers, Err: err}
	}
	for checks := 1; ; checks++ {
		gone := p.ask(ctx, targets, fqdn, value)
		if ctx.Err() != nil {
			// Answers cut short by the context say nothing of the servers.
			return fail(checks, ctx.Err())
		}
		for _, t := range gone {
			log.WarnContext(ctx, "name server unreachable: not waiting for it", "name", dns.Fqdn(fqdn), "zone", zone, "server", t.Server.String(), "resolver", t.Resolver, "error", t.Err)
		}
		st := judge(targets)
		switch {
		case st.done:
			if len(st.unreachable) > 0 {
				log.WarnContext(ctx, "TXT record served by every name server reached; some could not be checked", "name", dns.Fqdn(fqdn), "zone", zone, "checks", checks, "unreachable", st.unreachable)
			}
			return nil
		case st.noneReachable:
			return fail(checks, ErrUnreachable)
		}
		level := slog.LevelDebug
		if now := time.Now(); checks == 1 {
			level = slog.LevelInfo
			said.Mark(now)
		} else if said.Due(now, interval) {
			level = slog.LevelInfo
		}
		log.LogAttrs(ctx, level, "TXT record not yet served by every name server: waiting",
			slog.String("name", dns.Fqdn(fqdn)), slog.String("zone", zone), slog.Int("checks", checks),
			slog.Any("missing", st.missing), slog.Any("lagging", st.lagging), slog.Any("no_answer", st.pending), slog.Any("unreachable", st.unreachable),
			progress.Waited(time.Since(start)), progress.NextIn(interval))
		if err := sleep(ctx, interval); err != nil {
			return fail(checks, err)
		}
	}
}

// state sums up one check.
type state struct {
	done          bool     // nothing lags or is pending, and a server has the value
	noneReachable bool     // every authoritative server is unreachable
	lagging       []string // answered without the value
	missing       []string // the servers (names) of lagging and pending
	pending       []string // no answer yet, not given up
	unreachable   []string // given up
}

// miss adds t's server (its name, or address) to st.missing, once.
func (st *state) miss(t *target) {
	if !slices.Contains(st.missing, t.key) {
		st.missing = append(st.missing, t.key)
	}
}

// judge sums up the targets' last answers, server by server.
func judge(targets []*target) state {
	var st state
	type server struct{ ok, lagging, pending, reached bool }
	servers := map[string]*server{}
	var authoritative []string
	for _, t := range targets {
		s := servers[t.key]
		if s == nil {
			s = &server{}
			servers[t.key] = s
			if !t.Resolver {
				authoritative = append(authoritative, t.key)
			}
		}
		switch {
		case t.Unreachable:
			st.unreachable = append(st.unreachable, t.String())
			continue
		case t.Err != nil:
			s.pending = true
			st.pending = append(st.pending, t.String())
			st.miss(t)
		case t.OK:
			s.ok = true
		default:
			s.lagging = true
			st.lagging = append(st.lagging, t.String())
			st.miss(t)
		}
		s.reached = true
	}
	anyOK := false
	st.noneReachable = true
	for _, k := range authoritative {
		s := servers[k]
		anyOK = anyOK || (s.ok && !s.lagging && !s.pending)
		st.noneReachable = st.noneReachable && !s.reached
	}
	st.done = anyOK && len(st.lagging) == 0 && len(st.pending) == 0
	return st
}

// ask queries every target not given up once, in parallel, records the
// answers and returns the targets given up in this check.
func (p Propagation) ask(ctx context.Context, targets []*target, fqdn, value string) []*target {
	var wg sync.WaitGroup
	for _, t := range targets {
		if t.Unreachable {
			continue
		}
		wg.Go(func() {
			a := p.queryTXT(ctx, t.Server, fqdn, value, t.Resolver)
			if a.Err == nil {
				t.ServerAnswer, t.fails = a, 0
				return
			}
			if ended(ctx) {
				// Cut short by the context: keep the last answer, if any.
				if t.Rcode == "" && t.Err == nil {
					t.ServerAnswer = a
				}
				return
			}
			t.ServerAnswer = a
			t.fails++
			if unreachable(a.Err) || t.fails >= unreachableAfter {
				t.Unreachable = true
			}
		})
	}
	wg.Wait()
	var gone []*target
	for _, t := range targets {
		if t.Unreachable && t.fails > 0 && !t.reported {
			t.reported = true
			gone = append(gone, t)
		}
	}
	return gone
}

// queryTXT asks one server for the TXT records at fqdn: without recursion
// for an authoritative server, with it (accepting records found through
// CNAMEs) for a resolver.
func (p Propagation) queryTXT(ctx context.Context, ns NameServer, fqdn, value string, recursive bool) ServerAnswer {
	a := ServerAnswer{Server: ns, Resolver: recursive}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(fqdn), dns.TypeTXT)
	m.RecursionDesired = recursive
	exchange := Exchange
	if p.exchange != nil {
		exchange = p.exchange
	}
	resp, err := exchange(ctx, ns.Addr, m, p.QueryTimeout)
	if err != nil {
		a.Err = err
		return a
	}
	a.Rcode = dns.RcodeToString[resp.Rcode]
	for _, rr := range resp.Answer {
		t, ok := rr.(*dns.TXT)
		if !ok || (!recursive && !strings.EqualFold(t.Hdr.Name, dns.Fqdn(fqdn))) {
			continue
		}
		a.TXT = append(a.TXT, strings.Join(t.Txt, ""))
	}
	a.OK = resp.Rcode == dns.RcodeSuccess && slices.Contains(a.TXT, value)
	return a
}
