package acme

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
)

// Unit tests for issue 11 (redirects, transient kinds, the badNonce
// bound); the tests against a CA are in fakeca_reliability_test.go.

func TestCheckRedirect(t *testing.T) {
	mk := func(method, u string) *http.Request {
		r, _ := http.NewRequest(method, u, nil)
		r.Response = &http.Response{StatusCode: 302}
		return r
	}
	check := checkRedirect(nil)
	if err := check(mk("GET", "https://b.example/"), []*http.Request{mk("POST", "https://a.example/")}); err != http.ErrUseLastResponse {
		t.Errorf("POST redirect: %v, want ErrUseLastResponse", err)
	}
	if err := check(mk("GET", "https://b.example/"), []*http.Request{mk("GET", "https://a.example/")}); err != nil {
		t.Errorf("GET redirect: %v", err)
	}
	var re *RedirectError
	if err := check(mk("GET", "http://b.example/"), []*http.Request{mk("GET", "https://a.example/")}); !errors.As(err, &re) || !strings.Contains(err.Error(), "https") {
		t.Errorf("https to http: %v", err)
	}
	called := false
	next := checkRedirect(func(*http.Request, []*http.Request) error { called = true; return nil })
	next(mk("GET", "https://b.example/"), []*http.Request{mk("GET", "https://a.example/")})
	if !called {
		t.Error("the HTTPClient's own CheckRedirect was not consulted")
	}
	// The caller's http.Client is not changed.
	hc := &http.Client{}
	c := &Client{DirectoryURL: "https://ca.example/dir", HTTPClient: hc}
	c.init()
	if hc.CheckRedirect != nil || c.http.CheckRedirect == nil {
		t.Error("CheckRedirect set on the caller's client, or not on the Client's copy")
	}
}

func TestTransientKinds(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&transportError{"POST", "u", errors.New("connection reset by peer")}, true},
		{&transportError{"POST", "u", errors.New("stream error: stream ID 3; INTERNAL_ERROR")}, true},
		{&transportError{"POST", "u", context.DeadlineExceeded}, true},
		{&Problem{Status: 500}, true},
		{&Problem{Status: 502}, true},
		{&Problem{Status: 503, Type: ProblemServerInternal}, true},
		{&Problem{Status: 504}, true},
		{&Problem{Status: 408}, true},
		{&Problem{Status: 429}, true},
		{&Problem{Status: 400, Type: ProblemRateLimited}, true},
		{&Problem{Status: 501}, false},
		{&unsupportedError{feature: "x", p: &Problem{Status: 501}}, false},
		{&Problem{Status: 400, Type: ProblemMalformed}, false},
		{&Problem{Status: 403, Type: ProblemUnauthorized}, false},
		{&Problem{Status: 404}, false},
		{&RedirectError{Status: 307}, false},
		{&MismatchError{}, false},
		{&WaitError{Last: &Problem{Status: 503}}, false},
		{errBodyTooLarge, false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// Point 5: the package doc and the badNonce bound agree.
func TestDocBadNonceBound(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(strings.ReplaceAll(string(b), "//", "")), " ")
	if want := fmt.Sprintf("at most %d times (%d attempts in all)", maxBadNonceRetries, maxBadNonceRetries+1); !strings.Contains(doc, want) {
		t.Errorf("doc.go does not say %q", want)
	}
}

func TestAuthzCovers(t *testing.T) {
	ids := []Identifier{DNSIdentifier("*.example.org"), DNSIdentifier("example.net"), {Type: IdentifierIP, Value: "2001:db8::1"}}
	for _, tc := range []struct {
		id       Identifier
		wildcard bool
		want     bool
	}{
		{DNSIdentifier("example.org"), true, true},
		{DNSIdentifier("example.org"), false, false},
		{DNSIdentifier("EXAMPLE.net."), false, true},
		{Identifier{Type: IdentifierIP, Value: "2001:DB8:0::1"}, false, true},
		{DNSIdentifier("example.com"), false, false},
		{Identifier{Type: IdentifierIP, Value: "example.net"}, false, false},
	} {
		if got := authzCovers(ids, tc.id, tc.wildcard); got != tc.want {
			t.Errorf("authzCovers(%v, %v) = %v, want %v", tc.id, tc.wildcard, got, tc.want)
		}
	}
}
