package acmetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DNSServer is an in-process authoritative DNS server for every name, on
// 127.0.0.1 over UDP and TCP on the same port (Pebble queries over TCP).
//
// By default every name exists and has the address 127.0.0.1 and nothing
// else: no AAAA record, because Pebble dials the first address it gets and
// asks for AAAA before A, so a default ::1 would send validations to an
// IPv6 socket most test solvers do not listen on. SetAddrs and
// SetDefaultAddrs change that.
//
// Names are case-insensitive and may be given with or without the final
// dot. All methods are safe for concurrent use.
type DNSServer struct {
	udp, tcp *dns.Server
	addr     string

	mu       sync.Mutex
	defaults []netip.Addr
	names    map[string]*dnsName
	queries  []DNSQuery

	closeOnce sync.Once
	closeErr  error
}

// DNSQuery is one question the server answered.
type DNSQuery struct {
	Time time.Time
	Name string // lower-case FQDN
	Type uint16 // dns.TypeA, dns.TypeTXT, …
	Net  string // "udp" or "tcp"
}

type dnsName struct {
	addrs    []netip.Addr
	hasAddrs bool
	txt      []string
	caa      []string
	cname    string
	rcode    int
	hasRcode bool
}

const dnsTTL = 1

// StartDNSServer starts a DNSServer on a free 127.0.0.1 port.
func StartDNSServer(ctx context.Context) (*DNSServer, error) {
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := startDNSServerOnce()
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("acmetest: start DNS server: %w", lastErr)
}

func startDNSServerOnce() (*DNSServer, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := pc.LocalAddr().String()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return nil, err
	}
	s := &DNSServer{
		addr:     addr,
		defaults: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		names:    make(map[string]*dnsName),
	}
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.udp = &dns.Server{PacketConn: pc, Handler: s.handler("udp"), NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: l, Handler: s.handler("tcp"), NotifyStartedFunc: notify}
	errs := make(chan error, 2)
	go func() { errs <- s.udp.ActivateAndServe() }()
	go func() { errs <- s.tcp.ActivateAndServe() }()
	for range 2 {
		select {
		case <-started:
		case err := <-errs:
			pc.Close()
			l.Close()
			return nil, err
		}
	}
	return s, nil
}

// Addr returns the host:port the server listens on, for both UDP and TCP.
func (s *DNSServer) Addr() string { return s.addr }

// Close stops the server. It is safe to call more than once.
func (s *DNSServer) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.closeErr = errors.Join(s.udp.ShutdownContext(ctx), s.tcp.ShutdownContext(ctx))
	})
	return s.closeErr
}

func (s *DNSServer) closeIfNotNil() {
	if s != nil {
		_ = s.Close()
	}
}

func canonical(name string) string { return strings.ToLower(dns.Fqdn(name)) }

// entry returns the record set of name, creating it; s.mu must be held.
func (s *DNSServer) entry(name string) *dnsName {
	n := canonical(name)
	e := s.names[n]
	if e == nil {
		e = &dnsName{}
		s.names[n] = e
	}
	return e
}

// SetTXT replaces the TXT records of name with values (none removes them).
func (s *DNSServer) SetTXT(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entry(name).txt = slices.Clone(values)
}

// AddTXT adds a TXT record to name, unless it is already there.
func (s *DNSServer) AddTXT(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(name)
	if !slices.Contains(e.txt, value) {
		e.txt = append(e.txt, value)
	}
}

// RemoveTXT removes the TXT record value from name, if present.
func (s *DNSServer) RemoveTXT(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(name)
	e.txt = slices.DeleteFunc(e.txt, func(v string) bool { return v == value })
}

// ClearTXT removes all TXT records of name.
func (s *DNSServer) ClearTXT(name string) { s.SetTXT(name) }

// TXT returns the TXT records of name.
func (s *DNSServer) TXT(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.names[canonical(name)]; e != nil {
		return slices.Clone(e.txt)
	}
	return nil
}

// SetAddrs sets the A and AAAA records of name to addrs, replacing the
// default; with no addrs the name has no address at all.
func (s *DNSServer) SetAddrs(name string, addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(name)
	e.addrs, e.hasAddrs = slices.Clone(addrs), true
}

// ResetAddrs makes name answer with the default addresses again.
func (s *DNSServer) ResetAddrs(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(name)
	e.addrs, e.hasAddrs = nil, false
}

// SetDefaultAddrs sets the addresses of every name without SetAddrs. The
// initial default is 127.0.0.1 alone.
func (s *DNSServer) SetDefaultAddrs(addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.defaults = slices.Clone(addrs)
}

// SetCAA sets the CAA "issue" records of name (RFC 8659), one per issuer
// domain; an issuer of ";" forbids issuance. No issuers removes them.
func (s *DNSServer) SetCAA(name string, issuers ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entry(name).caa = slices.Clone(issuers)
}

// SetCNAME makes name an alias of target; "" removes the alias. Queries
// for other types follow the alias within this server.
func (s *DNSServer) SetCNAME(name, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if target != "" {
		target = canonical(target)
	}
	s.entry(name).cname = target
}

// SetRcode makes every query for name fail with rcode (for example
// dns.RcodeServerFailure or dns.RcodeNameError).
func (s *DNSServer) SetRcode(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(name)
	e.rcode, e.hasRcode = rcode, true
}

// ClearRcode undoes SetRcode.
func (s *DNSServer) ClearRcode(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(name)
	e.rcode, e.hasRcode = 0, false
}

// Queries returns every question answered so far, oldest first.
func (s *DNSServer) Queries() []DNSQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.queries)
}

// QueryCount returns how many questions for name of type qtype were
// answered; qtype dns.TypeANY (255) counts every type.
func (s *DNSServer) QueryCount(name string, qtype uint16) int {
	n := canonical(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	count := 0
	for _, q := range s.queries {
		if q.Name == n && (qtype == dns.TypeANY || q.Type == qtype) {
			count++
		}
	}
	return count
}

func (s *DNSServer) handler(network string) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		s.mu.Lock()
		for _, q := range req.Question {
			s.queries = append(s.queries, DNSQuery{Time: time.Now(), Name: canonical(q.Name), Type: q.Qtype, Net: network})
			if rcode, ok := s.answer(m, q); !ok {
				m.Rcode = rcode
			}
		}
		s.mu.Unlock()
		_ = w.WriteMsg(m)
	}
}

// answer appends the records answering q to m; s.mu must be held. It
// reports false, with the rcode, for names set to fail.
func (s *DNSServer) answer(m *dns.Msg, q dns.Question) (int, bool) {
	name := canonical(q.Name)
	for range 8 { // follow at most 8 aliases
		e := s.names[name]
		if e != nil && e.hasRcode {
			return e.rcode, false
		}
		if e == nil || e.cname == "" || q.Qtype == dns.TypeCNAME {
			break
		}
		m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: e.cname})
		name = e.cname
	}
	e := s.names[name]
	if e == nil {
		e = &dnsName{}
	}
	switch q.Qtype {
	case dns.TypeA, dns.TypeAAAA:
		addrs := s.defaults
		if e.hasAddrs {
			addrs = e.addrs
		}
		for _, a := range addrs {
			switch {
			case a.Is4() && q.Qtype == dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr(name, dns.TypeA), A: a.AsSlice()})
			case !a.Is4() && q.Qtype == dns.TypeAAAA:
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA), AAAA: a.AsSlice()})
			}
		}
	case dns.TypeTXT:
		for _, v := range e.txt {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr(name, dns.TypeTXT), Txt: splitTXT(v)})
		}
	case dns.TypeCAA:
		for _, issuer := range e.caa {
			m.Answer = append(m.Answer, &dns.CAA{Hdr: hdr(name, dns.TypeCAA), Tag: "issue", Value: issuer})
		}
	case dns.TypeCNAME:
		if e.cname != "" {
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: e.cname})
		}
	}
	return dns.RcodeSuccess, true
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: dnsTTL}
}

// splitTXT cuts v into the 255-octet character-strings of RFC 1035 §3.3.14.
func splitTXT(v string) []string {
	var parts []string
	for len(v) > 255 {
		parts = append(parts, v[:255])
		v = v[255:]
	}
	return append(parts, v)
}
