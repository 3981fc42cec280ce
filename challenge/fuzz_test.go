package challenge

import (
	"crypto/x509"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// base64url is the alphabet of RFC 4648 §5, the only characters RFC 8555
// §8.1 allows in a token (no "=" padding).
const base64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// FuzzValidToken checks that ValidToken accepts exactly the tokens of 1
// to 256 base64url characters, and that each one it accepts is used
// unchanged as a URL path segment and as a file name in a directory.
func FuzzValidToken(f *testing.F) {
	for _, s := range []string{"", "abc", "../x", "a/b", "tok=en", ".", "..", "a b", "a%2F", "é", "a\x00",
		"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", base64url, strings.Repeat("A", 256), strings.Repeat("A", 257)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		inAlphabet := s != ""
		for _, r := range s {
			if !strings.ContainsRune(base64url, r) {
				inAlphabet = false
			}
		}
		want := inAlphabet && len(s) <= maxTokenLen
		if got := ValidToken(s); got != want {
			t.Fatalf("ValidToken(%q) = %v, want %v (base64url alphabet only, 1 to %d bytes)", s, got, want, maxTokenLen)
		}
		if !want {
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

// FuzzVerifyTLSALPN01Certificate feeds arbitrary DER to the parser and the
// verifier: neither may panic, and a certificate we did not make for this
// key authorization must never pass unless it carries its digest.
func FuzzVerifyTLSALPN01Certificate(f *testing.F) {
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}
	cert, err := TLSALPN01Certificate(id, testKeyAuth)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cert.Certificate[0])
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		_ = VerifyTLSALPN01Certificate(c, id, testKeyAuth)
		_ = VerifyTLSALPN01Certificate(c, acme.Identifier{Type: acme.IdentifierIP, Value: "192.0.2.1"}, testKeyAuth)
		if VerifyTLSALPN01Certificate(c, id, "other") == nil && VerifyTLSALPN01Certificate(c, id, testKeyAuth) == nil {
			t.Fatal("one certificate passed for two key authorizations")
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
		if matchPersist(rec, chal, time.Unix(0, 0)) == nil && !strings.Contains(strings.ToLower(rec), "accounturi") {
			t.Fatalf("%q accepted without accounturi", rec)
		}
	})
}
