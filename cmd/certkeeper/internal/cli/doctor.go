package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/certkeeper/certkeeper/solver/dns01"
)

// checkStatus is the verdict of one doctor check.
type checkStatus string

const (
	statusOK   checkStatus = "ok"
	statusWarn checkStatus = "warn"
	statusFail checkStatus = "fail"
	statusSkip checkStatus = "skip"
)

// doctorCheck is one line of the report.
type doctorCheck struct {
	Check  string      `json:"check"`
	Status checkStatus `json:"status"`
	Detail string      `json:"detail"`
}

type doctorName struct {
	Name   string        `json:"name"`
	Checks []doctorCheck `json:"checks"`
}

type doctorReport struct {
	CA            string   `json:"ca"`
	CAAIdentities []string `json:"caa_identities"`
	// CAError says why the CA's directory could not be fetched; "" when
	// it was. The report is then not OK.
	CAError string       `json:"ca_error"`
	Names   []doctorName `json:"names"`
	OK      bool         `json:"ok"`
}

// doctor holds what every check needs.
type doctor struct {
	res      *dns01.Resolver
	nsPort   int
	httpPort int
	tlsPort  int
	caaIDs   []string
	caErr    error
	timeout  time.Duration
}

func doctorCommand() command {
	return command{
		name: "doctor", summary: "check names, DNS, CAA and ports before ordering", args: "NAME...",
		about: `Checks, before ordering, that each name resolves, that its authoritative
servers agree, where its _acme-challenge record must go, that CAA allows
the CA, and whether ports 80 and 443 answer from this host.`,
		examples: []string{
			"certkeeper doctor example.com www.example.com",
			"certkeeper doctor -ca letsencrypt -json '*.example.com'",
			"certkeeper doctor -http-listen :8080 -dns-resolver 9.9.9.9:53 example.com",
		},
		setup: setupDoctor,
	}
}

func setupDoctor(fs *flagSet) func(ctx context.Context, pos []string) error {
	env := fs.env
	var (
		c         common
		resolvers listFlag
	)
	jsonOut := fs.BoolP("json", false, "print the report as JSON")
	fs.category = "Challenges"
	httpListen := fs.StringP("http-listen", ":80", "address whose port to probe for http-01 (the CA always uses 80)")
	tlsListen := fs.StringP("tls-listen", ":443", "address whose port to probe for tls-alpn-01 (the CA always uses 443)")
	fs.Deprecated("http-port", "http-listen", portToListen)
	fs.Deprecated("tls-port", "tls-listen", portToListen)
	fs.category = "DNS provider"
	fs.List(&resolvers, "dns-resolver", "DNS resolver to ask, HOST:PORT; repeatable (default: /etc/resolv.conf)")
	nsPort := fs.IntP("dns-ns-port", 53, "port on which to ask the authoritative servers")
	fs.Deprecated("resolver", "dns-resolver", nil)
	fs.Deprecated("ns-port", "dns-ns-port", nil)
	c.register(fs, env, useCA|useTimeout)
	return func(ctx context.Context, names []string) error {
		httpPort, err := listenPort("-http-listen", *httpListen)
		if err != nil {
			return err
		}
		tlsPort, err := listenPort("-tls-listen", *tlsListen)
		if err != nil {
			return err
		}
		if len(names) == 0 {
			return usagef("give at least one name")
		}
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		d := &doctor{res: &dns01.Resolver{Servers: resolvers, Timeout: 3 * time.Second}, nsPort: *nsPort, httpPort: httpPort, tlsPort: tlsPort, timeout: 3 * time.Second}
		rep := doctorReport{OK: true}
		cl, err := c.client()
		if err != nil {
			return err
		}
		rep.CA = cl.DirectoryURL
		if dir, err := cl.Directory(ctx); err != nil {
			d.caErr = err
			rep.CAError, rep.OK = err.Error(), false
		} else {
			d.caaIDs = dir.Meta.CAAIdentities
		}
		rep.CAAIdentities = d.caaIDs
		for _, n := range names {
			dn := d.examine(ctx, strings.ToLower(strings.TrimSuffix(n, ".")))
			for _, ch := range dn.Checks {
				if ch.Status == statusFail {
					rep.OK = false
				}
			}
			rep.Names = append(rep.Names, dn)
		}
		if *jsonOut {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else {
			printReport(env, rep)
		}
		if rep.CAError != "" {
			return fmt.Errorf("the CA %s cannot be reached: %s", rep.CA, rep.CAError)
		}
		if !rep.OK {
			return fmt.Errorf("problems found (the lines marked FAIL)")
		}
		return nil
	}
}

// portToListen turns the value of the former -http-port and -tls-port
// (a port) into an address for -http-listen and -tls-listen.
func portToListen(v string) (string, error) {
	if _, err := strconv.ParseUint(v, 10, 16); err != nil {
		return v, errors.New("not a port number")
	}
	return ":" + v, nil
}

// listenPort is the port of a listen address flag.
func listenPort(flag, addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err == nil {
		var n uint64
		if n, err = strconv.ParseUint(p, 10, 16); err == nil {
			return int(n), nil
		}
	}
	return 0, usagef("%s %q: want HOST:PORT or :PORT", flag, addr)
}

func printReport(env Env, rep doctorReport) {
	ids := "none listed"
	if len(rep.CAAIdentities) > 0 {
		ids = strings.Join(rep.CAAIdentities, ", ")
	}
	if rep.CAError != "" {
		printf(env.Stdout, "FAIL  CA %s cannot be reached: %s\n", rep.CA, rep.CAError)
	} else {
		printf(env.Stdout, "CA %s (CAA identities: %s)\n", rep.CA, ids)
	}
	for _, n := range rep.Names {
		printf(env.Stdout, "\n%s\n", n.Name)
		for _, c := range n.Checks {
			printf(env.Stdout, "  %-4s  %-14s  %s\n", strings.ToUpper(string(c.Status)), c.Check, c.Detail)
		}
	}
}

// examine runs every check for one name.
func (d *doctor) examine(ctx context.Context, name string) doctorName {
	out := doctorName{Name: name}
	add := func(check string, s checkStatus, format string, a ...any) {
		out.Checks = append(out.Checks, doctorCheck{Check: check, Status: s, Detail: fmt.Sprintf(format, a...)})
	}
	wildcard := strings.HasPrefix(name, "*.")
	base := strings.TrimPrefix(name, "*.")
	if _, err := netip.ParseAddr(base); err == nil {
		add("name", statusSkip, "an IP address: only http-01 and tls-alpn-01 apply, no DNS checks")
		d.ports(ctx, base, []netip.Addr{netip.MustParseAddr(base)}, add)
		return out
	}
	if _, ok := dns.IsDomainName(base); !ok || !strings.Contains(base, ".") {
		add("name", statusFail, "%q is not a valid domain name", name)
		return out
	}

	// 1. The name resolves.
	addrs, err := d.res.LookupAddrs(ctx, base)
	switch {
	case err != nil && wildcard:
		add("resolve", statusOK, "%s has no address, which a wildcard does not need (%v)", base, err)
	case err != nil:
		add("resolve", statusWarn, "%v: http-01 and tls-alpn-01 cannot work; dns-01 can", err)
	default:
		add("resolve", statusOK, "%s has %s", base, joinAddrs(addrs))
	}

	// 2. The zone and its authoritative servers agree.
	zone, err := d.res.FindZone(ctx, base)
	if err != nil {
		add("zone", statusFail, "%v", err)
	} else {
		d.authoritative(ctx, zone, base, add)
	}

	// 3. Where the _acme-challenge record goes.
	d.acmeChallenge(ctx, base, add)

	// 4. CAA.
	d.caa(ctx, base, wildcard, add)

	// 5. Ports, for the names http-01 and tls-alpn-01 can validate.
	if wildcard {
		add("http-01", statusSkip, "a wildcard can only be validated with dns-01")
	} else if len(addrs) > 0 {
		d.ports(ctx, base, addrs, add)
	}
	return out
}

type addFunc func(check string, s checkStatus, format string, a ...any)

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// authoritative asks every server of zone for its SOA serial and for
// name's addresses, and reports whether they agree.
func (d *doctor) authoritative(ctx context.Context, zone, name string, add addFunc) {
	servers, err := d.res.NameServers(ctx, zone, d.nsPort)
	if err != nil {
		add("zone", statusFail, "zone %s: %v", zone, err)
		return
	}
	var list []string
	for _, s := range servers {
		list = append(list, s.String())
	}
	add("zone", statusOK, "%s, served by %s", zone, strings.Join(list, ", "))
	serials := map[uint32][]string{}
	answers := map[string][]string{}
	var unreachable []string
	for _, s := range servers {
		serial, err := d.askSOA(ctx, s.Addr, zone)
		if err != nil {
			unreachable = append(unreachable, fmt.Sprintf("%s: %v", s, err))
			continue
		}
		serials[serial] = append(serials[serial], s.String())
		a := d.askAddrs(ctx, s.Addr, name)
		answers[a] = append(answers[a], s.String())
	}
	switch {
	case len(unreachable) > 0:
		add("authoritative", statusFail, "not every server answers for %s: %s", zone, strings.Join(unreachable, "; "))
	case len(serials) > 1:
		var parts []string
		for serial, who := range serials {
			parts = append(parts, fmt.Sprintf("serial %d on %s", serial, strings.Join(who, ", ")))
		}
		slices.Sort(parts)
		add("authoritative", statusWarn, "servers disagree on the SOA serial of %s (%s): an update has not reached them all yet", zone, strings.Join(parts, "; "))
	case len(answers) > 1:
		var parts []string
		for a, who := range answers {
			parts = append(parts, fmt.Sprintf("%s from %s", a, strings.Join(who, ", ")))
		}
		slices.Sort(parts)
		add("authoritative", statusWarn, "servers give different answers for %s: %s", name, strings.Join(parts, "; "))
	default:
		var serial uint32
		var answer string
		for s := range serials {
			serial = s
		}
		for a := range answers {
			answer = a
		}
		add("authoritative", statusOK, "%d server(s) agree: SOA serial %d, %s %s", len(servers), serial, name, answer)
	}
}

func (d *doctor) ask(ctx context.Context, server, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	r, err := dns01.Exchange(ctx, server, m, d.timeout)
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return r, fmt.Errorf("%s", dns.RcodeToString[r.Rcode])
	}
	return r, nil
}

func (d *doctor) askSOA(ctx context.Context, server, zone string) (uint32, error) {
	r, err := d.ask(ctx, server, zone, dns.TypeSOA)
	if err != nil {
		return 0, err
	}
	if !r.Authoritative {
		return 0, fmt.Errorf("not authoritative for %s", zone)
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial, nil
		}
	}
	return 0, fmt.Errorf("no SOA for %s", zone)
}

// askAddrs describes a server's A and AAAA answer for name, sorted, so
// that answers can be compared.
func (d *doctor) askAddrs(ctx context.Context, server, name string) string {
	var parts []string
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		r, err := d.ask(ctx, server, name, t)
		if err != nil {
			parts = append(parts, err.Error())
			continue
		}
		if r.Rcode == dns.RcodeNameError {
			return "NXDOMAIN"
		}
		for _, rr := range r.Answer {
			switch v := rr.(type) {
			case *dns.A:
				parts = append(parts, "A "+v.A.String())
			case *dns.AAAA:
				parts = append(parts, "AAAA "+v.AAAA.String())
			case *dns.CNAME:
				parts = append(parts, "CNAME "+v.Target)
			}
		}
	}
	parts = slices.Compact(slices.Sorted(slices.Values(parts)))
	if len(parts) == 0 {
		return "no address"
	}
	return strings.Join(parts, ", ")
}

// acmeChallenge follows _acme-challenge.<name> through its CNAMEs and says
// which zone the record must be written in.
func (d *doctor) acmeChallenge(ctx context.Context, name string, add addFunc) {
	rec := "_acme-challenge." + name + "."
	chain, err := d.res.FollowCNAME(ctx, rec)
	if err != nil {
		add("acme-challenge", statusFail, "%v", err)
		return
	}
	target := chain[len(chain)-1]
	zone, err := d.res.FindZone(ctx, target)
	if err != nil {
		add("acme-challenge", statusFail, "record would go at %s, but %v", target, err)
		return
	}
	if len(chain) == 1 {
		add("acme-challenge", statusOK, "%s has no CNAME: the TXT record goes in zone %s", rec, zone)
		return
	}
	add("acme-challenge", statusOK, "CNAME chain %s: the TXT record goes at %s in zone %s", strings.Join(chain, " -> "), target, zone)
}

// ports probes the http-01 and tls-alpn-01 ports on each address, from
// this host: the CA connects from elsewhere, so a firewall may still differ.
func (d *doctor) ports(ctx context.Context, name string, addrs []netip.Addr, add addFunc) {
	var httpOK, httpBad, tlsOK, tlsBad []string
	for _, a := range addrs {
		hp := net.JoinHostPort(a.String(), strconv.Itoa(d.httpPort))
		if st, err := d.probeHTTP(ctx, hp, name); err != nil {
			httpBad = append(httpBad, fmt.Sprintf("%s: %v", hp, err))
		} else {
			httpOK = append(httpOK, fmt.Sprintf("%s (%s)", hp, st))
		}
		tp := net.JoinHostPort(a.String(), strconv.Itoa(d.tlsPort))
		if st, err := d.probeTLS(ctx, tp, name); err != nil {
			tlsBad = append(tlsBad, fmt.Sprintf("%s: %v", tp, err))
		} else {
			tlsOK = append(tlsOK, fmt.Sprintf("%s (%s)", tp, st))
		}
	}
	report := func(check, what string, ok, bad []string) {
		switch {
		case len(bad) == 0:
			add(check, statusOK, "%s answers on %s", what, strings.Join(ok, ", "))
		case len(ok) == 0:
			add(check, statusWarn, "nothing answers %s on %s: use another challenge type or open the port", what, strings.Join(bad, "; "))
		default:
			add(check, statusWarn, "%s answers on %s but not on %s: the CA may try any address", what, strings.Join(ok, ", "), strings.Join(bad, "; "))
		}
	}
	report("http-01", "HTTP", httpOK, httpBad)
	report("tls-alpn-01", "TLS", tlsOK, tlsBad)
}

func (d *doctor) probeHTTP(ctx context.Context, addr, host string) (string, error) {
	conn, err := (&net.Dialer{Timeout: d.timeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(d.timeout))
	fmt.Fprintf(conn, "GET /.well-known/acme-challenge/certkeeper-doctor HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("accepts connections but sent no HTTP answer: %v", err)
	}
	if !strings.HasPrefix(line, "HTTP/") {
		return "", fmt.Errorf("answers, but not HTTP: %q", strings.TrimSpace(line))
	}
	return strings.TrimSpace(line), nil
}

func (d *doctor) probeTLS(ctx context.Context, addr, host string) (string, error) {
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: d.timeout}, Config: &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: true, // only asking whether TLS answers; tls-alpn-01 uses its own certificate
		NextProtos:         []string{"h2", "http/1.1"},
	}}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	st := conn.(*tls.Conn).ConnectionState()
	return tls.VersionName(st.Version), nil
}
