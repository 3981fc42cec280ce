package challenge

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// MatchDNSPersist01 reports why record, one TXT record's strings joined,
// does not satisfy the dns-persist-01 challenge chal at time now, or nil
// if it does. It parses the record as an RFC 8659 issue-value the way the
// CA does: the issuer must be one of chal.IssuerDomainNames, accounturi
// must be chal.AccountURL, policy=wildcard is needed when chal.Wildcard is
// set, and a persistUntil (Unix seconds, digits only) must not have passed. Tags are
// case-insensitive; space and tab around parts are ignored.
func MatchDNSPersist01(record string, chal acme.Challenge, now time.Time) error {
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
			// 1*DIGIT, Unix seconds: no sign, nothing after the digits.
			secs, err := strconv.ParseInt(value, 10, 64)
			if err != nil || value == "" || value[0] < '0' || value[0] > '9' {
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
