package challenge

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/certkeeper/certkeeper/acme"
)

// maxCNAMEHops bounds how many CNAMEs CheckDNS01 follows.
const maxCNAMEHops = 8

// CheckDNS01 asks the DNS server at resolver (host:port, e.g.
// "127.0.0.1:53" or "[2001:4860:4860::8888]:53") for the TXT records at the
// name RecordFor gives for chal and reports an error unless one of them
// satisfies the challenge. It works for dns-01, dns-account-01 and
// dns-persist-01. The query asks for recursion and follows CNAMEs, so a
// challenge delegated to another zone is checked where the CA will look.
//
// For dns-01 and dns-account-01 a record must equal DNS01Value; for
// dns-persist-01 a record must name one of chal.IssuerDomainNames, carry
// accounturi=chal.AccountURL, policy=wildcard when chal.Wildcard is set,
// and no persistUntil in the past.
//
// A resolver answers from its cache, so a check against a recursive
// resolver may see an old answer; ask the zone's authoritative servers to
// learn whether an update has reached them.
func CheckDNS01(ctx context.Context, resolver string, chal acme.Challenge) error {
	name, want, err := RecordFor(chal)
	if err != nil {
		return fmt.Errorf("%s self-check: %w", chal.Type, err)
	}
	if resolver == "" {
		return fmt.Errorf("%s self-check: no resolver address", chal.Type)
	}
	txts, final, err := lookupTXT(ctx, resolver, name)
	if err != nil {
		return fmt.Errorf("%s self-check: TXT %s via %s: %w", chal.Type, name, resolver, err)
	}
	where := name
	if final != name {
		where = fmt.Sprintf("%s (CNAME to %s)", name, final)
	}
	if len(txts) == 0 {
		return fmt.Errorf("%s self-check: TXT %s via %s: no TXT records, want %q", chal.Type, where, resolver, want)
	}
	if chal.Type == acme.ChallengeDNSPersist01 {
		var errs []string
		for _, t := range txts {
			err := matchPersist(t, chal, time.Now())
			if err == nil {
				return nil
			}
			errs = append(errs, err.Error())
		}
		return fmt.Errorf("%s self-check: TXT %s via %s: no record authorizes account %q: %s", chal.Type, where, resolver, chal.AccountURL, strings.Join(errs, "; "))
	}
	if slices.Contains(txts, want) {
		return nil
	}
	return fmt.Errorf("%s self-check: TXT %s via %s: got %q, want %q", chal.Type, where, resolver, txts, want)
}

// lookupTXT returns the TXT strings at name (each record's strings
// joined, as the CA does) after following CNAMEs, and the name they were
// found at. It follows at most maxCNAMEHops CNAMEs in all, whether they
// come in one answer or in several, and stops at a name it has already
// passed: a loop is an error, never a spin.
func lookupTXT(ctx context.Context, resolver, name string) ([]string, string, error) {
	c := &dns.Client{}
	cur := dns.Fqdn(name)
	chain := []string{cur}
	seen := map[string]bool{strings.ToLower(cur): true}
	for {
		if err := ctx.Err(); err != nil {
			return nil, cur, err
		}
		m := new(dns.Msg)
		m.SetQuestion(cur, dns.TypeTXT)
		m.RecursionDesired = true
		m.SetEdns0(4096, false)
		r, _, err := c.ExchangeContext(ctx, m, resolver)
		if err == nil && r.Truncated {
			tcp := &dns.Client{Net: "tcp"}
			r, _, err = tcp.ExchangeContext(ctx, m, resolver)
		}
		if err != nil {
			return nil, cur, err
		}
		switch r.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			return nil, cur, fmt.Errorf("name does not exist (NXDOMAIN)")
		default:
			return nil, cur, fmt.Errorf("server answered %s", dns.RcodeToString[r.Rcode])
		}
		// Walk the answer section: a recursive resolver puts the CNAME
		// chain and the target's records in one answer.
		asked := cur
		for {
			next := ""
			for _, rr := range r.Answer {
				if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, cur) {
					next = dns.Fqdn(cn.Target)
					break
				}
			}
			if next == "" {
				break
			}
			chain = append(chain, next)
			if seen[strings.ToLower(next)] {
				return nil, cur, fmt.Errorf("CNAME loop: %s", strings.Join(chain, " -> "))
			}
			if len(chain) > maxCNAMEHops+1 {
				return nil, cur, fmt.Errorf("more than %d CNAMEs: %s", maxCNAMEHops, strings.Join(chain, " -> "))
			}
			seen[strings.ToLower(next)] = true
			cur = next
		}
		var txts []string
		for _, rr := range r.Answer {
			if t, ok := rr.(*dns.TXT); ok && strings.EqualFold(t.Hdr.Name, cur) {
				txts = append(txts, strings.Join(t.Txt, ""))
			}
		}
		if len(txts) > 0 || strings.EqualFold(cur, asked) {
			return txts, cur, nil
		}
		// The answer ended at a CNAME target without its records
		// (a non-recursive server): ask again for the target.
	}
}

// matchPersist reports why record does not satisfy the dns-persist-01
// challenge chal at time now, or nil if it does. It parses the RFC 8659
// issue-value the way the CA does.
func matchPersist(record string, chal acme.Challenge, now time.Time) error {
	parts := strings.Split(record, ";")
	issuer := trimWSP(parts[0])
	if !slices.Contains(chal.IssuerDomainNames, issuer) {
		return fmt.Errorf("record %q: issuer %q is not one of %q", record, issuer, chal.IssuerDomainNames)
	}
	var accountURI, policy string
	var until time.Time
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		p = trimWSP(p)
		tag, value, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Errorf("record %q: malformed parameter %q", record, p)
		}
		tag, value = strings.ToLower(trimWSP(tag)), trimWSP(value)
		if tag == "" || seen[tag] {
			return fmt.Errorf("record %q: empty or repeated tag in %q", record, p)
		}
		seen[tag] = true
		if !validIssueParamValue(value) && value != "" {
			return fmt.Errorf("record %q: malformed value for %q", record, tag)
		}
		switch tag {
		case "accounturi":
			accountURI = value
		case "policy":
			policy = strings.ToLower(value)
		case "persistuntil":
			var secs int64
			if _, err := fmt.Sscanf(value, "%d", &secs); err != nil {
				return fmt.Errorf("record %q: malformed persistUntil %q", record, value)
			}
			until = time.Unix(secs, 0)
		}
	}
	switch {
	case accountURI == "":
		return fmt.Errorf("record %q: no accounturi", record)
	case accountURI != chal.AccountURL:
		return fmt.Errorf("record %q: accounturi is %q, want %q", record, accountURI, chal.AccountURL)
	case chal.Wildcard && policy != "wildcard":
		return fmt.Errorf("record %q: wildcard challenge needs policy=wildcard", record)
	case !until.IsZero() && now.After(until):
		return fmt.Errorf("record %q: persistUntil %s has passed", record, until.UTC().Format(time.RFC3339))
	}
	return nil
}

// trimWSP trims RFC 8659 whitespace (space and tab).
func trimWSP(s string) string { return strings.Trim(s, " \t") }
