package challenge

import (
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

func FuzzValidToken(f *testing.F) {
	for _, s := range []string{"", "abc", "../x", "a/b", "tok=en", "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidToken(s) {
			return
		}
		if strings.ContainsAny(s, "/.=\\\x00 ") || len(s) > 256 || s == "" {
			t.Fatalf("ValidToken(%q) = true", s)
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
