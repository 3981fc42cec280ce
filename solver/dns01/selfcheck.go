package dns01

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// ErrNoRecord is wrapped by the error of SelfCheck when the name holds no
// TXT record at all (NXDOMAIN, or an answer without TXT records).
var ErrNoRecord = errors.New("no TXT record")

// SelfCheck asks the DNS server at resolver (host:port, e.g.
// "127.0.0.1:53" or "[2001:4860:4860::8888]:53") for the TXT records at the
// name challenge.RecordFor gives for chal and reports an error unless one
// of them satisfies the challenge, as the CA will judge it. It works for
// dns-01, dns-account-01 and dns-persist-01. The query asks for recursion
// and follows CNAMEs, so a challenge delegated to another zone is checked
// where the CA will look.
//
// For dns-01 and dns-account-01 a record must equal challenge.DNS01Value;
// for dns-persist-01 one must pass challenge.MatchDNSPersist01. A record
// of several strings counts as their concatenation, as at the CA.
//
// It follows at most MaxCNAMEs CNAMEs, whether they come in one answer or
// one per query; a chain that comes back to a name it passed, or is longer,
// is an error wrapping ErrCNAMELoop. Each query is bounded by 5 s and by
// ctx, and SelfCheck returns when ctx is done. A name without TXT records
// gives an error wrapping ErrNoRecord.
//
// A resolver answers from its cache, so a check against a recursive
// resolver may see an old answer; ask the zone's authoritative servers to
// learn whether an update has reached them (Propagation does).
func SelfCheck(ctx context.Context, resolver string, chal acme.Challenge) error {
	name, want, err := challenge.RecordFor(chal)
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
		return fmt.Errorf("%s self-check: TXT %s via %s: %w, want %q", chal.Type, where, resolver, ErrNoRecord, want)
	}
	if chal.Type == acme.ChallengeDNSPersist01 {
		var errs []string
		for _, t := range txts {
			err := challenge.MatchDNSPersist01(t, chal, time.Now())
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
// found at. Every query adds at least one new name to the chain or ends
// the walk, so the walk ends after at most MaxCNAMEs+1 queries.
func lookupTXT(ctx context.Context, resolver, name string) ([]string, string, error) {
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
		r, err := Exchange(ctx, resolver, m, 0)
		if err != nil {
			return nil, cur, err
		}
		switch r.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			return nil, cur, fmt.Errorf("%w: name does not exist (NXDOMAIN)", ErrNoRecord)
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
			if seen[strings.ToLower(next)] || len(chain) > MaxCNAMEs+1 {
				return nil, cur, fmt.Errorf("%w: %s", ErrCNAMELoop, strings.Join(chain, " -> "))
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
