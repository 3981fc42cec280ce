package challenge

import (
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// testKeyAuth uses the token and account-key thumbprint of the examples in
// RFC 8555 §8.1 and §8.3.
const testKeyAuth = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

func TestDNS01ValueKAT(t *testing.T) {
	// Made with:
	//   ka='evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI'
	//   printf %s "$ka" | openssl dgst -sha256 -binary | basenc --base64url | tr -d =
	const want = "lCM7cZyQXcVHK2nnW3jjAhNT3Fvm18UN-kWZZknKoYM"
	if got := DNS01Value(testKeyAuth); got != want {
		t.Fatalf("DNS01Value = %q, want %q", got, want)
	}
}

func TestDNSNames(t *testing.T) {
	const acct = "https://example.com/acme/acct/1"
	// Label made with:
	//   printf %s https://example.com/acme/acct/1 | openssl dgst -sha256 -binary |
	//     head -c 10 | basenc --base32 | tr -d = | tr A-Z a-z
	const label = "vrr7uudrklshxb6l"
	tests := []struct{ got, want string }{
		{DNS01Name("example.com"), "_acme-challenge.example.com."},
		{DNS01Name("*.example.com"), "_acme-challenge.example.com."},
		{DNS01Name("example.com."), "_acme-challenge.example.com."},
		{DNSAccount01Name("example.com", acct), "_" + label + "._acme-challenge.example.com."},
		{DNSAccount01Name("*.example.com", acct), "_" + label + "._acme-challenge.example.com."},
		{DNSPersist01Name("example.com"), "_validation-persist.example.com."},
		{DNSPersist01Name("*.example.com"), "_validation-persist.example.com."},
		{HTTP01Path("tok"), "/.well-known/acme-challenge/tok"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestDNSPersist01Value(t *testing.T) {
	const acct = "https://acme.example/acct/1"
	got, err := DNSPersist01Value("letsencrypt.org", acct)
	if err != nil || got != "letsencrypt.org; accounturi="+acct {
		t.Errorf("plain: %q, %v", got, err)
	}
	got, err = DNSPersist01Value("letsencrypt.org", acct, WithPolicyWildcard(), WithPersistUntil(time.Unix(1767225600, 0)))
	if err != nil || got != "letsencrypt.org; accounturi="+acct+"; policy=wildcard; persistUntil=1767225600" {
		t.Errorf("full: %q, %v", got, err)
	}
	for _, bad := range [][2]string{{"", acct}, {"le.org", ""}, {"le.org", "https://a b"}, {"le.org", "https://a;b"}, {"le;org", acct}} {
		if v, err := DNSPersist01Value(bad[0], bad[1]); err == nil {
			t.Errorf("DNSPersist01Value(%q, %q) = %q, want error", bad[0], bad[1], v)
		}
	}
	// What we write must be what we (and the CA) accept.
	chal := acme.Challenge{Type: acme.ChallengeDNSPersist01, AccountURL: acct, IssuerDomainNames: []string{"letsencrypt.org"}, Wildcard: true}
	v, _ := DNSPersist01Value("letsencrypt.org", acct, WithPolicyWildcard())
	if err := MatchDNSPersist01(v, chal, time.Now()); err != nil {
		t.Errorf("MatchDNSPersist01(own value): %v", err)
	}
	v, _ = DNSPersist01Value("letsencrypt.org", acct)
	if err := MatchDNSPersist01(v, chal, time.Now()); err == nil {
		t.Error("wildcard challenge accepted a record without policy=wildcard")
	}
	v, _ = DNSPersist01Value("letsencrypt.org", acct, WithPolicyWildcard(), WithPersistUntil(time.Unix(1000, 0)))
	if err := MatchDNSPersist01(v, chal, time.Now()); err == nil || !strings.Contains(err.Error(), "persistUntil") {
		t.Errorf("expired record: %v", err)
	}
	// persistUntil is digits only: a CA refuses anything else, so the
	// self-check must too (not read the leading digits and go on).
	for _, until := range []string{"4102444800x", "+4102444800", "4102444800.5", "-1"} {
		rec := "letsencrypt.org; accounturi=" + acct + "; policy=wildcard; persistUntil=" + until
		if err := MatchDNSPersist01(rec, chal, time.Now()); err == nil || !strings.Contains(err.Error(), "malformed persistUntil") {
			t.Errorf("persistUntil=%s: %v, want malformed", until, err)
		}
	}
	if err := MatchDNSPersist01("other.example; accounturi="+acct, chal, time.Now()); err == nil {
		t.Error("foreign issuer accepted")
	}
	if err := MatchDNSPersist01("letsencrypt.org;ACCOUNTURI="+acct+" ;\tpolicy=WILDCARD", chal, time.Now()); err != nil {
		t.Errorf("case and whitespace variants: %v", err)
	}
}

func TestRecordFor(t *testing.T) {
	const acct = "https://example.com/acme/acct/1"
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}
	tests := []struct {
		chal      acme.Challenge
		name, val string
		wantErr   bool
	}{
		{chal: acme.Challenge{Type: acme.ChallengeDNS01, Identifier: id, KeyAuthorization: testKeyAuth},
			name: "_acme-challenge.example.com.", val: DNS01Value(testKeyAuth)},
		{chal: acme.Challenge{Type: acme.ChallengeDNSAccount01, Identifier: id, KeyAuthorization: testKeyAuth, AccountURL: acct},
			name: "_vrr7uudrklshxb6l._acme-challenge.example.com.", val: DNS01Value(testKeyAuth)},
		{chal: acme.Challenge{Type: acme.ChallengeDNSPersist01, Identifier: id, Wildcard: true, AccountURL: acct, IssuerDomainNames: []string{"ca.example", "other.example"}},
			name: "_validation-persist.example.com.", val: "ca.example; accounturi=" + acct + "; policy=wildcard"},
		{chal: acme.Challenge{Type: acme.ChallengeDNSAccount01, Identifier: id, KeyAuthorization: testKeyAuth}, wantErr: true},
		{chal: acme.Challenge{Type: acme.ChallengeDNSPersist01, Identifier: id, AccountURL: acct}, wantErr: true},
		{chal: acme.Challenge{Type: acme.ChallengeHTTP01, Identifier: id, KeyAuthorization: testKeyAuth}, wantErr: true},
		{chal: acme.Challenge{Type: acme.ChallengeDNS01, Identifier: acme.Identifier{Type: acme.IdentifierIP, Value: "192.0.2.1"}, KeyAuthorization: testKeyAuth}, wantErr: true},
		{chal: acme.Challenge{Type: acme.ChallengeDNS01, KeyAuthorization: testKeyAuth}, wantErr: true},
	}
	for i, tt := range tests {
		name, val, err := RecordFor(tt.chal)
		if (err != nil) != tt.wantErr {
			t.Errorf("%d: RecordFor error = %v, wantErr %v", i, err, tt.wantErr)
			continue
		}
		if name != tt.name || val != tt.val {
			t.Errorf("%d: RecordFor = %q %q, want %q %q", i, name, val, tt.name, tt.val)
		}
	}
}

// An identifier from the CA that does not make a plain DNS name (a
// newline, a space, a semicolon) gives no record.
func TestRecordForRefusesBadIdentifiers(t *testing.T) {
	for _, id := range []string{"a\nb.example", "a b.example", "a;b.example", "a..example", "x\x00.example"} {
		chal := acme.Challenge{Type: acme.ChallengeDNS01, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: id}, KeyAuthorization: "token.thumb"}
		if name, _, err := RecordFor(chal); err == nil {
			t.Errorf("RecordFor(%q) = %q, want an error", id, name)
		}
	}
	chal := acme.Challenge{Type: acme.ChallengeDNS01, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "*.xn--bcher-kva.example"}, KeyAuthorization: "token.thumb"}
	if _, _, err := RecordFor(chal); err != nil {
		t.Errorf("RecordFor(wildcard punycode): %v", err)
	}
}
