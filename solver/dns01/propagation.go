package dns01

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Propagation checks that a TXT record has reached every authoritative
// server of its zone before the CA is told to look: the CA asks whichever
// server it reaches, and one lagging secondary fails the validation. The
// zero value asks every address of every NS of the zone on port 53,
// every 2 s, for up to 2 minutes.
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
}

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
}

func (a ServerAnswer) String() string {
	who := a.Server.String()
	if a.Resolver {
		who = "resolver " + who
	}
	switch {
	case a.Err != nil:
		return fmt.Sprintf("%s: no answer (%v)", who, a.Err)
	case len(a.TXT) == 0:
		return fmt.Sprintf("%s answered %s with no TXT record", who, a.Rcode)
	default:
		return fmt.Sprintf("%s answered %q", who, a.TXT)
	}
}

// PropagationError is returned when the record did not reach every server
// in time. It lists what each server answered last.
type PropagationError struct {
	FQDN, Value string
	Zone        string
	Elapsed     time.Duration
	Checks      int
	Answers     []ServerAnswer
	// Err is why the wait ended: context.DeadlineExceeded or
	// context.Canceled.
	Err error
}

func (e *PropagationError) Error() string {
	var missing, ok []string
	for _, a := range e.Answers {
		if a.OK {
			ok = append(ok, a.Server.String())
		} else {
			missing = append(missing, a.String())
		}
	}
	s := fmt.Sprintf("dns01: TXT %s %q not served by every server of zone %s after %v (%d checks): %s",
		e.FQDN, e.Value, e.Zone, e.Elapsed.Round(time.Millisecond), e.Checks, strings.Join(missing, "; "))
	if len(ok) > 0 {
		s += "; served by " + strings.Join(ok, ", ")
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
	return r.NameServers(ctx, zone, p.Port)
}

// Wait returns once every authoritative server of zone (and every one of
// Resolvers) serves value in the TXT records at fqdn, asking them all
// again every Interval. It finds the servers through r. On timeout it
// returns a *PropagationError naming each server and its last answer.
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
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := sleep(ctx, p.Delay); err != nil {
		return fmt.Errorf("dns01: waiting %v before checking %s: %w", p.Delay, fqdn, err)
	}
	servers, err := p.servers(ctx, r, zone)
	if err != nil {
		return err
	}
	var answers []ServerAnswer
	for checks := 1; ; checks++ {
		answers = p.ask(ctx, servers, fqdn, value)
		done := true
		for _, a := range answers {
			done = done && a.OK
		}
		if done {
			return nil
		}
		if err := sleep(ctx, interval); err != nil {
			return &PropagationError{FQDN: dns.Fqdn(fqdn), Value: value, Zone: zone, Elapsed: time.Since(start), Checks: checks, Answers: answers, Err: err}
		}
	}
}

// ask queries every server once, in parallel.
func (p Propagation) ask(ctx context.Context, servers []NameServer, fqdn, value string) []ServerAnswer {
	out := make([]ServerAnswer, len(servers)+len(p.Resolvers))
	done := make(chan struct{})
	for i := range out {
		go func() {
			defer func() { done <- struct{}{} }()
			if i < len(servers) {
				out[i] = queryTXT(ctx, servers[i], fqdn, value, false, p.QueryTimeout)
			} else {
				out[i] = queryTXT(ctx, NameServer{Addr: p.Resolvers[i-len(servers)]}, fqdn, value, true, p.QueryTimeout)
			}
		}()
	}
	for range out {
		<-done
	}
	return out
}

// queryTXT asks one server for the TXT records at fqdn: without recursion
// for an authoritative server, with it (accepting records found through
// CNAMEs) for a resolver.
func queryTXT(ctx context.Context, ns NameServer, fqdn, value string, recursive bool, timeout time.Duration) ServerAnswer {
	a := ServerAnswer{Server: ns, Resolver: recursive}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(fqdn), dns.TypeTXT)
	m.RecursionDesired = recursive
	resp, err := Exchange(ctx, ns.Addr, m, timeout)
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
