package dns01

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// MaxCNAMEs is how many CNAMEs FollowCNAME follows before giving up.
const MaxCNAMEs = 10

// ErrCNAMELoop is returned (wrapped) by FollowCNAME when a chain of CNAMEs
// comes back to a name it already passed or is longer than MaxCNAMEs.
var ErrCNAMELoop = errors.New("CNAME loop or chain too long")

// Resolver asks the DNS the questions a DNS challenge needs: which zone
// holds a name, where a CNAME leads, which servers are authoritative.
// The zero value asks the servers listed in /etc/resolv.conf. It is safe
// for concurrent use; fields must not change after first use.
type Resolver struct {
	// Servers are the resolvers asked, as host:port, tried in order until
	// one answers. Empty means the nameservers of /etc/resolv.conf. An
	// authoritative server works too for names in its own zones.
	Servers []string
	// Timeout bounds each query, in addition to the context. 0 means 5 s.
	Timeout time.Duration

	// first is the index in the servers of the one that answered last,
	// asked first next time: a resolver that does not answer (an IPv6
	// one on an IPv4-only host, one that is down) costs one timeout, not
	// one per query.
	first atomic.Int32
}

func (r *Resolver) servers() ([]string, error) {
	if len(r.Servers) > 0 {
		return r.Servers, nil
	}
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(conf.Servers) == 0 {
		return nil, fmt.Errorf("dns01: no resolver configured and none in /etc/resolv.conf (%v): give the DNS resolvers to use", err)
	}
	var s []string
	for _, h := range conf.Servers {
		s = append(s, net.JoinHostPort(h, conf.Port))
	}
	return s, nil
}

// Exchange sends m to the resolvers in turn and returns the first answer
// and the server that gave it. It starts with the server that answered
// last, so that one that does not answer is not waited for in every
// query.
func (r *Resolver) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, string, error) {
	servers, err := r.servers()
	if err != nil {
		return nil, "", err
	}
	var errs []error
	first := int(r.first.Load())
	for i := range servers {
		n := (first + i) % len(servers)
		s := servers[n]
		resp, err := Exchange(ctx, s, m, r.Timeout)
		if err == nil {
			if n != first {
				r.first.Store(int32(n))
			}
			return resp, s, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", s, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, "", errors.Join(errs...)
}

// Exchange sends m to server over UDP and again over TCP if the answer is
// truncated. timeout bounds each attempt; 0 means 5 s. It returns as soon
// as ctx is done (with ctx's error), not only at ctx's deadline.
func Exchange(ctx context.Context, server string, m *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if m.IsEdns0() == nil {
		m.SetEdns0(4096, false)
	}
	resp, err := exchange(ctx, &dns.Client{Timeout: timeout}, server, m)
	if err == nil && resp.Truncated {
		resp, err = exchange(ctx, &dns.Client{Net: "tcp", Timeout: timeout}, server, m)
	}
	return resp, err
}

// exchange is c.ExchangeContext, which heeds ctx's deadline only, made to
// heed its cancellation too: the connection is closed when ctx is done,
// which ends a read or write in progress (a deadline moved to now could be
// overwritten by the exchange setting its own).
func exchange(ctx context.Context, c *dns.Client, server string, m *dns.Msg) (*dns.Msg, error) {
	co, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer co.Close()
	stop := context.AfterFunc(ctx, func() { _ = co.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, m, co)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return resp, err
}

func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	resp, _, err := r.Exchange(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", dns.TypeToString[qtype], name, err)
	}
	return resp, nil
}

// FindZone returns the apex of the zone that holds fqdn: the owner of the
// SOA record in the answer to "fqdn SOA" or in the authority section of a
// negative answer, walking up one label at a time when neither has one.
// A delegated _acme-challenge subzone is found as its own zone.
func (r *Resolver) FindZone(ctx context.Context, fqdn string) (string, error) {
	name := dns.Fqdn(fqdn)
	for {
		resp, err := r.query(ctx, name, dns.TypeSOA)
		if err != nil {
			return "", fmt.Errorf("dns01: finding the zone of %s: %w", fqdn, err)
		}
		if resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError {
			for _, rr := range append(resp.Answer, resp.Ns...) {
				if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, dns.Fqdn(fqdn)) {
					return strings.ToLower(soa.Hdr.Name), nil
				}
			}
		}
		i, end := dns.NextLabel(name, 0)
		if end {
			return "", fmt.Errorf("dns01: no zone found for %s (last answer %s)", fqdn, dns.RcodeToString[resp.Rcode])
		}
		name = name[i:]
	}
}

// FollowCNAME returns the chain of names from fqdn through its CNAMEs:
// fqdn first, and last the name that holds records (where a TXT record
// must be written for a challenge delegated with a CNAME, the acme-dns
// pattern). A name without a CNAME gives a chain of one. A loop, or more
// than MaxCNAMEs links, is an error wrapping ErrCNAMELoop.
func (r *Resolver) FollowCNAME(ctx context.Context, fqdn string) ([]string, error) {
	chain := []string{dns.Fqdn(fqdn)}
	seen := map[string]bool{strings.ToLower(chain[0]): true}
	for {
		cur := chain[len(chain)-1]
		resp, err := r.query(ctx, cur, dns.TypeCNAME)
		if err != nil {
			return chain, fmt.Errorf("dns01: following CNAMEs from %s: %w", fqdn, err)
		}
		var next string
		for _, rr := range resp.Answer {
			if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, cur) {
				next = dns.Fqdn(cn.Target)
			}
		}
		if next == "" {
			return chain, nil
		}
		chain = append(chain, next)
		if seen[strings.ToLower(next)] || len(chain) > MaxCNAMEs+1 {
			return chain, fmt.Errorf("dns01: %s: %w: %s", fqdn, ErrCNAMELoop, strings.Join(chain, " -> "))
		}
		seen[strings.ToLower(next)] = true
	}
}

// NameServer is one authoritative server of a zone.
type NameServer struct {
	// Host is the name in the zone's NS record, or "" when the server was
	// given as an address.
	Host string
	// Addr is where it is asked, host:port.
	Addr string
}

func (ns NameServer) String() string {
	if ns.Host == "" {
		return ns.Addr
	}
	return ns.Host + " (" + ns.Addr + ")"
}

// NameServers returns the authoritative servers of zone: the targets of
// its NS records with each of their IPv4 and IPv6 addresses, on port (53
// when 0).
func (r *Resolver) NameServers(ctx context.Context, zone string, port int) ([]NameServer, error) {
	if port == 0 {
		port = 53
	}
	resp, err := r.query(ctx, zone, dns.TypeNS)
	if err != nil {
		return nil, fmt.Errorf("dns01: name servers of %s: %w", zone, err)
	}
	if resp.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("dns01: name servers of %s: %s", zone, dns.RcodeToString[resp.Rcode])
	}
	var hosts []string
	for _, rr := range resp.Answer {
		if ns, ok := rr.(*dns.NS); ok && strings.EqualFold(ns.Hdr.Name, dns.Fqdn(zone)) {
			hosts = append(hosts, strings.ToLower(ns.Ns))
		}
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("dns01: %s has no NS records", zone)
	}
	var out []NameServer
	var errs []error
	for _, h := range hosts {
		addrs, err := r.LookupAddrs(ctx, h)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, a := range addrs {
			out = append(out, NameServer{Host: h, Addr: net.JoinHostPort(a.String(), strconv.Itoa(port))})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dns01: no address for any name server of %s: %w", zone, errors.Join(errs...))
	}
	return out, nil
}

// LookupAddrs returns host's IPv4 and IPv6 addresses.
func (r *Resolver) LookupAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.TrimSuffix(host, ".")); err == nil {
		return []netip.Addr{a}, nil
	}
	var out []netip.Addr
	var errs []error
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		resp, err := r.query(ctx, host, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rr := range resp.Answer {
			switch v := rr.(type) {
			case *dns.A:
				if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
					out = append(out, a)
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(v.AAAA); ok {
					out = append(out, a)
				}
			}
		}
	}
	if len(out) == 0 {
		if len(errs) > 0 {
			return nil, fmt.Errorf("dns01: addresses of %s: %w", host, errors.Join(errs...))
		}
		return nil, fmt.Errorf("dns01: %s has no A or AAAA record", host)
	}
	return out, nil
}
