package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// caa finds the relevant CAA record set (RFC 8659 §3: the name's own, else
// its parent's, up to the root) and says whether it lets the CA issue.
func (d *doctor) caa(ctx context.Context, name string, wildcard bool, add addFunc) {
	var set []*dns.CAA
	at, refused, last := "", "", ""
	for cur := dns.Fqdn(name); ; {
		m := new(dns.Msg)
		m.SetQuestion(cur, dns.TypeCAA)
		r, _, err := d.res.Exchange(ctx, m)
		if err != nil {
			add("caa", statusFail, "CAA lookup for %s: %v (a CA must refuse to issue when CAA cannot be checked)", cur, err)
			return
		}
		if r.Rcode == dns.RcodeRefused && cur != dns.Fqdn(name) {
			// An authoritative-only server refuses names outside its
			// zones; a CA's resolver would answer for them.
			refused = cur
			break
		}
		if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
			add("caa", statusFail, "CAA lookup for %s: %s (a CA must refuse to issue when CAA cannot be checked)", cur, dns.RcodeToString[r.Rcode])
			return
		}
		last = cur
		for _, rr := range r.Answer {
			if c, ok := rr.(*dns.CAA); ok {
				set = append(set, c)
			}
		}
		if len(set) > 0 {
			at = cur
			break
		}
		i, end := dns.NextLabel(cur, 0)
		if end {
			break
		}
		cur = cur[i:]
		if cur == "." {
			break
		}
	}
	switch {
	case len(set) == 0 && refused != "":
		add("caa", statusWarn, "no CAA record from %s up to %s; the resolver refused to answer for %s (an authoritative-only server?): check the rest with a recursive resolver", name, last, refused)
		return
	case len(set) == 0:
		add("caa", statusOK, "no CAA record at %s or above: any CA may issue", name)
		return
	}
	verdict, why := caaAllows(set, wildcard, d.caaIDs)
	switch {
	case d.caErr != nil:
		add("caa", statusWarn, "CAA at %s: %s; could not read the CA's CAA identities: %v", at, describeCAA(set), d.caErr)
	case len(d.caaIDs) == 0:
		add("caa", statusWarn, "CAA at %s: %s; the CA lists no caaIdentities in its directory, so it cannot be judged", at, describeCAA(set))
	case verdict:
		add("caa", statusOK, "CAA at %s (%s) %s", at, describeCAA(set), why)
	default:
		add("caa", statusFail, "CAA at %s (%s) %s", at, describeCAA(set), why)
	}
}

func describeCAA(set []*dns.CAA) string {
	s := make([]string, len(set))
	for i, c := range set {
		s[i] = fmt.Sprintf("%d %s %q", c.Flag, c.Tag, c.Value)
	}
	return strings.Join(s, ", ")
}

// caaAllows applies RFC 8659 §4 to a relevant record set: issuewild
// properties rule wildcards when there are any, else issue properties do;
// no such property means no restriction; an unknown tag with the critical
// flag forbids issuance.
func caaAllows(set []*dns.CAA, wildcard bool, ids []string) (bool, string) {
	var issue, issuewild []string
	for _, c := range set {
		switch strings.ToLower(c.Tag) {
		case "issue":
			issue = append(issue, c.Value)
		case "issuewild":
			issuewild = append(issuewild, c.Value)
		case "iodef", "contactemail", "contactphone", "issuemail", "issuevmc":
		default:
			if c.Flag&128 != 0 {
				return false, fmt.Sprintf("has the unknown critical tag %q, so no CA may issue", c.Tag)
			}
		}
	}
	vals, tag := issue, "issue"
	if wildcard && len(issuewild) > 0 {
		vals, tag = issuewild, "issuewild"
	}
	if len(vals) == 0 {
		return true, "has no " + tag + " property: any CA may issue"
	}
	for _, v := range vals {
		domain := strings.TrimSpace(strings.SplitN(v, ";", 2)[0])
		for _, id := range ids {
			if domain != "" && strings.EqualFold(domain, id) {
				return true, fmt.Sprintf("allows %s", id)
			}
		}
	}
	return false, fmt.Sprintf("has no %s property for %s: the CA will refuse", tag, strings.Join(ids, " or "))
}
