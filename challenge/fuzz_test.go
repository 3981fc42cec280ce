package challenge

import (
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// tokenOracle is RFC 8555 §8.1's token alphabet (base64url, no padding)
// with ValidToken's length bound, written independently as a regexp.
var tokenOracle = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// FuzzValidToken checks ValidToken against the oracle both ways, and that
// every token it accepts is used unchanged as a URL path segment and as a
// file name inside the directory it is joined to.
func FuzzValidToken(f *testing.F) {
	for _, s := range []string{"", "abc", "../x", "a/b", "tok=en", "a.b", ".", "..", "a b", "a+b", "a?b", "a#b", "a%2F", "é", "a\x00",
		"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
		strings.Repeat("x", 256), strings.Repeat("x", 257)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, want := ValidToken(s), tokenOracle.MatchString(s)
		if got != want {
			t.Fatalf("ValidToken(%q) = %v, want %v", s, got, want)
		}
		if !got {
			return
		}
		// A URL path segment that needs no escaping and that a URL
		// parser gives back whole.
		if esc := url.PathEscape(s); esc != s {
			t.Errorf("token %q needs escaping in a URL path: %q", s, esc)
		}
		if u, err := url.Parse("http://example.test" + HTTP01Path(s)); err != nil || u.Path != HTTP01Prefix+s || u.RawQuery != "" || u.Fragment != "" {
			t.Errorf("the http-01 URL of token %q parses as %+v, %v", s, u, err)
		}
		// A file name that names one entry of the directory it is
		// joined to.
		dir := filepath.FromSlash("/srv/www" + HTTP01Prefix)
		if p := filepath.Join(dir, s); filepath.Dir(p) != filepath.Clean(dir) || filepath.Base(p) != s || !filepath.IsLocal(s) {
			t.Errorf("token %q as a file name leaves its directory: %q", s, p)
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
