package challenge

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// tokenOracle is RFC 8555 §8.1's token alphabet (base64url, no padding)
// with ValidToken's length bound, written independently as a regexp.
var tokenOracle = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// FuzzValidToken checks ValidToken against the oracle both ways: every
// token it accepts is safe as a file name and URL segment, and no
// well-formed token is refused.
func FuzzValidToken(f *testing.F) {
	for _, s := range []string{"", "abc", "../x", "a/b", "tok=en", "a.b", "a\x00", "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", strings.Repeat("x", 257)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidToken(s), tokenOracle.MatchString(s); got != want {
			t.Fatalf("ValidToken(%q) = %v, want %v", s, got, want)
		}
	})
}

// FuzzMatchPersist parses arbitrary dns-persist-01 TXT records.
func FuzzMatchPersist(f *testing.F) {
	f.Add("ca.example; accounturi=https://a/1; policy=wildcard; persistUntil=99999999999")
	f.Add("ca.example;;")
	f.Add("ca.example; accounturi")
	chal := acme.Challenge{Type: acme.ChallengeDNSPersist01, AccountURL: "https://a/1", IssuerDomainNames: []string{"ca.example"}, Wildcard: true}
	f.Fuzz(func(t *testing.T, rec string) {
		if MatchDNSPersist01(rec, chal, time.Unix(0, 0)) == nil && !strings.Contains(strings.ToLower(rec), "accounturi") {
			t.Fatalf("%q accepted without accounturi", rec)
		}
	})
}
