package acme

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// rfc7638Key is the RSA public key of RFC 7638 §3.1.
func rfc7638Key(t *testing.T) *rsa.PublicKey {
	n, err := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
}

func TestThumbprintRFC7638(t *testing.T) {
	got, err := Thumbprint(rfc7638Key(t))
	if err != nil {
		t.Fatal(err)
	}
	// RFC 7638 §3.1.
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("Thumbprint = %s, want %s", got, want)
	}
	if _, err := Thumbprint("not a key"); err == nil {
		t.Error("Thumbprint of a string succeeded")
	}
}

func TestKeyAuthorizationAndDNS01(t *testing.T) {
	// Token from RFC 8555 §8.3's example, key from RFC 7638 §3.1.
	ka, err := KeyAuthorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", rfc7638Key(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; ka != want {
		t.Errorf("KeyAuthorization = %s", ka)
	}
	// Computed independently:
	//   printf %s "$ka" | openssl dgst -sha256 -binary | basenc --base64url | tr -d =
	if got, want := DNS01Value(ka), "ZTRx1Ckl1-tM05o5zaizTTA0yUy5AGereMgSNWC6Ll8"; got != want {
		t.Errorf("DNS01Value = %s, want %s", got, want)
	}
	if _, err := KeyAuthorization("", rfc7638Key(t)); err == nil {
		t.Error("empty token accepted")
	}
}

func TestDNSAccountLabel(t *testing.T) {
	// draft-ietf-acme-dns-account-label-00 §3.2 example; also computed
	// with Python's hashlib and base64.b32encode.
	if got, want := DNSAccountLabel("https://example.com/acme/acct/ExampleAccount"), "_ujmmovf2vn55tgye"; got != want {
		t.Errorf("DNSAccountLabel = %s, want %s", got, want)
	}
}

func TestARICertID(t *testing.T) {
	// RFC 9773 §4.1 example.
	aki, _ := hex.DecodeString("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
	cert := &x509.Certificate{AuthorityKeyId: aki, SerialNumber: big.NewInt(0x87654321)}
	got, err := ARICertID(cert)
	if err != nil {
		t.Fatal(err)
	}
	if want := "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"; got != want {
		t.Errorf("ARICertID = %s, want %s", got, want)
	}
	// No leading zero when the high bit is clear.
	cert.SerialNumber = big.NewInt(0x7f01)
	if got, _ := ARICertID(cert); !strings.HasSuffix(got, ".fwE") {
		t.Errorf("ARICertID = %s", got)
	}
	if _, err := ARICertID(&x509.Certificate{SerialNumber: big.NewInt(1)}); err == nil {
		t.Error("certificate without AKI accepted")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"120", now.Add(2 * time.Minute), true},
		{" 0 ", now, true},
		{"Sat, 01 Mar 2025 12:00:30 GMT", now.Add(30 * time.Second), true},    // IMF-fixdate
		{"Saturday, 01-Mar-25 12:00:30 GMT", now.Add(30 * time.Second), true}, // RFC 850
		{"Sat Mar  1 12:00:30 2025", now.Add(30 * time.Second), true},         // asctime
		{"Fri, 28 Feb 2025 12:00:00 GMT", now.Add(-24 * time.Hour), true},     // past: as is
		{"99999999999999999999999", now.Add(maxRetryAfterSeconds * time.Second), true},
		{"", time.Time{}, false},
		{"-5", time.Time{}, false},
		{"1.5", time.Time{}, false},
		{"12 s", time.Time{}, false},
		{"tomorrow", time.Time{}, false},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRetrySchedule(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c := &Client{}
	// Exponential from 250ms, capped at 10s, each drawn in [d/2, d]; no
	// count: any retry number has a wait.
	for n, want := range map[int]time.Duration{0: 250 * time.Millisecond, 1: 500 * time.Millisecond, 4: 4 * time.Second, 6: 10 * time.Second, 1000: 10 * time.Second} {
		for range 50 {
			if got := c.backoff(n); got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, got, want/2, want)
			}
		}
	}
	c.retrySchedule = []time.Duration{time.Second, 2 * time.Second}
	if got := c.backoff(7); got != 2*time.Second {
		t.Errorf("test schedule: backoff(7) = %v, want its last entry", got)
	}
	rl := &Problem{Status: 429, RetryAfter: now.Add(3 * time.Second)}
	if ra, ok := directRetryAfter(fmt.Errorf("wrapped: %w", rl)); !ok || !ra.Equal(rl.RetryAfter) {
		t.Errorf("directRetryAfter = %v %v", ra, ok)
	}
	if _, ok := directRetryAfter(&Problem{Status: 503}); ok {
		t.Error("directRetryAfter without a Retry-After")
	}
	polls := defaultPollSchedule[:]
	for n, want := range map[int]time.Duration{0: 10 * time.Millisecond, 3: 100 * time.Millisecond, 6: time.Second, 100: time.Second} {
		if got := pollDelay(polls, n); got != want {
			t.Errorf("pollDelay(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestParseLinks(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []link
	}{
		{[]string{`<https://a/cert/1/alt>;rel="alternate"`}, []link{{"https://a/cert/1/alt", []string{"alternate"}}}},
		{[]string{`<https://a/1>; rel="alternate", <https://a/dir>;rel=index`, `<https://a/2>;rel=alternate;title="x, y"`},
			[]link{{"https://a/1", []string{"alternate"}}, {"https://a/dir", []string{"index"}}, {"https://a/2", []string{"alternate"}}}},
		{[]string{`<https://a/x,y>; rel="up alternate"; rel="ignored"`}, []link{{"https://a/x,y", []string{"up", "alternate"}}}},
		{[]string{`garbage, <https://a/ok>;REL="Up"`}, []link{{"https://a/ok", []string{"up"}}}},
		{[]string{`<https://a/q>;title="a\"b";rel=up`}, []link{{"https://a/q", []string{"up"}}}},
		{[]string{`<unterminated`, ``, `;;,,`}, nil},
	} {
		if got := parseLinks(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseLinks(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	h := http.Header{}
	h.Add("Link", `</cert/1/alt>;rel="alternate", <https://other/cert/2>;rel="alternate"`)
	h.Add("Link", `<https://ca/cert/1/alt>;rel="alternate", <https://ca/authz/1>;rel="up"`)
	base, _ := url.Parse("https://ca/cert/1")
	want := []string{"https://ca/cert/1/alt", "https://other/cert/2"}
	if got := linkURLs(h, "alternate", base); !reflect.DeepEqual(got, want) {
		t.Errorf("linkURLs = %q, want %q", got, want)
	}
}

func TestProblemPredicates(t *testing.T) {
	ra := time.Now().Add(time.Minute)
	rl := &Problem{Type: ProblemRateLimited, Status: 429, RetryAfter: ra}
	if !IsRateLimited(rl) || !IsRetryable(rl) {
		t.Error("rate limited")
	}
	if got, ok := RetryAfter(rl); !ok || !got.Equal(ra) {
		t.Error("RetryAfter")
	}
	if _, ok := RetryAfter(&Problem{Status: 500}); ok {
		t.Error("RetryAfter without header")
	}
	if !IsRetryable(&Problem{Status: 502}) || IsRetryable(&Problem{Type: ProblemMalformed, Status: 400}) {
		t.Error("IsRetryable by status")
	}
	if !IsRetryable(&transportError{method: "POST", url: "u", err: errFake}) {
		t.Error("transport errors are retryable")
	}
	p := &Problem{Status: 404, Detail: "not found"}
	if got := p.Error(); got != "acme: 404: not found" {
		t.Errorf("Error() = %q", got)
	}
	if IsRateLimited(nil) || IsRetryable(nil) || IsCAA(errFake) {
		t.Error("nil / non-problem errors")
	}
}

var errFake = errors.New("connection reset by peer")
