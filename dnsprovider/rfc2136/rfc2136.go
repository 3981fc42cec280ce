// Package rfc2136 publishes ACME challenge TXT records with DNS UPDATE
// (RFC 2136) messages signed with TSIG (RFC 8945), the protocol BIND,
// Knot, PowerDNS and most self-hosted primaries accept.
//
// A Provider adds and removes exactly the TXT records it is given: an
// update adds one record to the RRset at a name (several values at one
// name coexist, as a wildcard and its base name need) and deletes only
// that record again, never the whole RRset. Updates go over UDP and are
// resent over TCP when the answer is truncated.
package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Provider sends signed dynamic updates to one primary server. Its
// methods are safe for concurrent use; fields must not change after first
// use.
type Provider struct {
	// Server is the primary's host:port, e.g. "ns1.example.com:53" or
	// "127.0.0.1:53". Required.
	Server string
	// Key is the TSIG key that signs updates. A zero Key sends them
	// unsigned, which servers normally refuse.
	Key Key
	// TTL of the records added. 0 means 60 seconds.
	TTL time.Duration
	// Net is "" (UDP, then TCP if the answer is truncated) or "tcp".
	Net string
	// Timeout bounds each exchange, in addition to the context. 0 means
	// 10 seconds.
	Timeout time.Duration
}

// Key is a TSIG key (RFC 8945).
type Key struct {
	// Name is the key's name as the server knows it, e.g. "acme-key".
	Name string
	// Algorithm is "hmac-sha256" (the default when empty), "hmac-sha512",
	// "hmac-sha384", "hmac-sha224" or "hmac-sha1".
	Algorithm string
	// Secret is the base64-encoded shared secret.
	Secret string
}

// algorithms maps BIND's algorithm names to miekg/dns's.
var algorithms = map[string]string{
	"hmac-sha1":   dns.HmacSHA1,
	"hmac-sha224": dns.HmacSHA224,
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha512": dns.HmacSHA512,
}

// algorithm returns the wire name of k's algorithm.
func (k Key) algorithm() (string, error) {
	a := strings.ToLower(strings.TrimSuffix(k.Algorithm, "."))
	if a == "" {
		a = "hmac-sha256"
	}
	if w, ok := algorithms[a]; ok {
		return w, nil
	}
	return "", fmt.Errorf("rfc2136: unsupported TSIG algorithm %q (want hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha224 or hmac-sha1)", k.Algorithm)
}

// AddTXT adds a TXT record with value at fqdn in zone. An empty zone is
// found by asking Server for the SOA of fqdn (see FindZone).
func (p *Provider) AddTXT(ctx context.Context, zone, fqdn, value string) error {
	return p.update(ctx, zone, fqdn, value, true)
}

// RemoveTXT deletes the TXT record with value at fqdn, leaving any other
// record at fqdn in place. An empty zone is found as AddTXT finds it.
func (p *Provider) RemoveTXT(ctx context.Context, zone, fqdn, value string) error {
	return p.update(ctx, zone, fqdn, value, false)
}

// ZoneOptional reports true (dns01.ZoneOptional): given no zone, the
// Provider asks Server, the primary, for it.
func (p *Provider) ZoneOptional() bool { return true }

func (p *Provider) update(ctx context.Context, zone, fqdn, value string, add bool) error {
	if p.Server == "" {
		return errors.New("rfc2136: Provider.Server is empty")
	}
	fqdn = dns.Fqdn(fqdn)
	if zone == "" {
		z, err := p.FindZone(ctx, fqdn)
		if err != nil {
			return err
		}
		zone = z
	}
	zone = dns.Fqdn(zone)
	if !dns.IsSubDomain(zone, fqdn) {
		return fmt.Errorf("rfc2136: %s is not in zone %s", fqdn, zone)
	}
	ttl := p.TTL
	if ttl <= 0 {
		ttl = 60 * time.Second
	}
	rr := &dns.TXT{
		Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: uint32(ttl / time.Second)},
		Txt: splitTXT(value),
	}
	m := new(dns.Msg)
	m.SetUpdate(zone)
	op := "add"
	if add {
		m.Insert([]dns.RR{rr})
	} else {
		op = "delete"
		m.Remove([]dns.RR{rr})
	}
	r, err := p.exchange(ctx, m)
	if err != nil {
		return &UpdateError{Op: op, Zone: zone, Name: fqdn, Server: p.Server, Err: err}
	}
	if r.Rcode != dns.RcodeSuccess {
		ue := &UpdateError{Op: op, Zone: zone, Name: fqdn, Server: p.Server, Rcode: r.Rcode}
		if t := r.IsTsig(); t != nil {
			ue.TSIGError = int(t.Error)
		}
		return ue
	}
	return nil
}

// splitTXT cuts a value into the 255-byte strings a TXT record holds; the
// CA joins them again.
func splitTXT(v string) []string {
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v)
}

// exchange sends m, signed when a key is set, over UDP then TCP if the
// answer was truncated (or over TCP only with Net "tcp").
func (p *Provider) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	var secrets map[string]string
	if p.Key.Name != "" {
		alg, err := p.Key.algorithm()
		if err != nil {
			return nil, err
		}
		name := strings.ToLower(dns.Fqdn(p.Key.Name))
		secrets = map[string]string{name: p.Key.Secret}
		m.SetTsig(name, alg, 300, time.Now().Unix())
	}
	nets := []string{"udp", "tcp"}
	if p.Net == "tcp" {
		nets = nets[1:]
	}
	var r *dns.Msg
	var err error
	for _, n := range nets {
		c := &dns.Client{Net: n, TsigSecret: secrets, Timeout: timeout}
		r, _, err = c.ExchangeContext(ctx, m, p.Server)
		if r != nil && r.Rcode != dns.RcodeSuccess {
			// A refusal is not signed with a valid MAC (BADSIG, BADKEY):
			// report the server's answer, not the verification failure.
			return r, nil
		}
		if err != nil {
			return nil, err
		}
		if !r.Truncated {
			return r, nil
		}
	}
	return r, err
}

// FindZone returns the zone that holds fqdn on Server: it asks Server for
// the SOA of fqdn and takes the zone from the answer or from the
// authority section of a negative answer, walking up one label at a time
// if neither has one.
func (p *Provider) FindZone(ctx context.Context, fqdn string) (string, error) {
	name := dns.Fqdn(fqdn)
	for {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeSOA)
		r, err := p.exchange(ctx, m)
		if err != nil {
			return "", fmt.Errorf("rfc2136: finding the zone of %s at %s: %w", fqdn, p.Server, err)
		}
		if r.Rcode == dns.RcodeSuccess || r.Rcode == dns.RcodeNameError {
			for _, rr := range append(r.Answer, r.Ns...) {
				if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, dns.Fqdn(fqdn)) {
					return soa.Hdr.Name, nil
				}
			}
		}
		i, end := dns.NextLabel(name, 0)
		if end {
			return "", fmt.Errorf("rfc2136: %s serves no zone holding %s (last answer %s)", p.Server, fqdn, dns.RcodeToString[r.Rcode])
		}
		name = name[i:]
	}
}

// UpdateError is a dynamic update the server did not apply.
type UpdateError struct {
	Op     string // "add" or "delete"
	Zone   string
	Name   string
	Server string
	// Rcode is the server's response code (dns.RcodeRefused,
	// dns.RcodeNotAuth, …), 0 when no answer came.
	Rcode int
	// TSIGError is the TSIG error of the answer (dns.RcodeBadSig,
	// dns.RcodeBadKey, dns.RcodeBadTime), 0 if none.
	TSIGError int
	// Err is the transport error when no answer came.
	Err error
}

func (e *UpdateError) Error() string {
	prefix := fmt.Sprintf("rfc2136: %s TXT %s in zone %s at %s", e.Op, e.Name, e.Zone, e.Server)
	if e.Err != nil {
		return prefix + ": " + e.Err.Error()
	}
	code := dns.RcodeToString[e.Rcode]
	if e.TSIGError != 0 {
		code += "/" + dns.RcodeToString[e.TSIGError]
	}
	var why string
	switch {
	case e.TSIGError == dns.RcodeBadSig:
		why = "the server rejected the TSIG signature: the secret does not match the key the server has"
	case e.TSIGError == dns.RcodeBadKey:
		why = "the server does not know this TSIG key name or algorithm"
	case e.TSIGError == dns.RcodeBadTime:
		why = "the clocks of this host and the server differ by more than the TSIG fudge (300 s)"
	case e.Rcode == dns.RcodeRefused:
		why = "the server's policy (allow-update / update-policy) does not let this key update this name"
	case e.Rcode == dns.RcodeNotAuth:
		why = "the server is not authoritative for the zone, or the update's signature was not accepted"
	case e.Rcode == dns.RcodeNotZone:
		why = "the name is not in the zone"
	case e.Rcode == dns.RcodeServerFailure:
		why = "the server failed to apply it"
	}
	if why != "" {
		return fmt.Sprintf("%s: %s (%s)", prefix, code, why)
	}
	return fmt.Sprintf("%s: %s", prefix, code)
}

func (e *UpdateError) Unwrap() error { return e.Err }
