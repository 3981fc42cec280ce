package acme

import (
	"context"
	"crypto/elliptic"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// Tests for issue 11: redirects on POST (point 3), waits that cannot end
// in time (point 4), retries by kind until the deadline (point 5) and CA
// objects checked against what was asked (point 2). The time-dependent
// ones run in a testing/synctest bubble against an in-memory stub: the
// fake clock moves only when every goroutine waits, so "after 3 s" is
// exact and costs no real time.

// memSetup is setup for a synctest bubble: an in-memory stub, its client
// and a registered account.
func memSetup(t *testing.T) (*stub, *Client, Account) {
	t.Helper()
	s := newMemStub()
	c := s.memClient()
	acct, err := c.NewAccount(t.Context(), Account{Key: ecKey(t, elliptic.P256()), TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, acct
}

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

// Point 4: a Retry-After holds for every later request to the URL, not
// only for the retries of the call that got it: a 503's for everyone, a
// 429's for the same account.
func TestRetryAfterSharedAcrossCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c, acct := memSetup(t)
		other, err := c.NewAccount(t.Context(), Account{Key: ecKey(t, elliptic.P256())})
		if err != nil {
			t.Fatal(err)
		}
		ids := []Identifier{DNSIdentifier("example.org")}
		s.addFault("newOrder", fault{status: 429, problem: ProblemRateLimited, retryAfter: "30", detail: "slow down"})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err = c.NewOrder(ctx, acct, ids)
		cancel()
		if !IsRateLimited(err) || s.count("newOrder") != 1 {
			t.Fatalf("err = %v, %d requests", err, s.count("newOrder"))
		}
		limited := time.Now()
		// Another call of the same account, 10 s left: fails at once,
		// without a request, quoting the CA's time.
		ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
		_, err = c.NewOrder(ctx, acct, ids)
		cancel()
		var we *WaitError
		if !errors.As(err, &we) || !we.RetryAfter.Equal(limited.Add(30*time.Second)) || !IsRateLimited(err) || s.count("newOrder") != 1 {
			t.Fatalf("second call: %v, %d requests", err, s.count("newOrder"))
		}
		// Another account is not held back.
		if _, err := c.NewOrder(t.Context(), other, ids); err != nil || time.Since(limited) != 0 {
			t.Fatalf("other account: %v after %v", err, time.Since(limited))
		}
		// The same account with a minute left waits for the 30 s.
		if _, err := c.NewOrder(t.Context(), acct, ids); err != nil {
			t.Fatal(err)
		}
		if ts := s.timesOf("newOrder"); ts[len(ts)-1].Sub(limited) < 30*time.Second {
			t.Errorf("request %v after a Retry-After: 30", ts[len(ts)-1].Sub(limited))
		}

		// A 503's Retry-After on newNonce holds for every caller.
		c2 := s.memClient()
		s.addFault("newNonce", fault{status: 503, problem: ProblemServerInternal, retryAfter: "4"})
		start := time.Now()
		ctx, cancel = context.WithTimeout(t.Context(), time.Second)
		_, err = c2.nonce(ctx)
		cancel()
		if !errors.As(err, &we) || we.Status != "503 Service Unavailable" {
			t.Fatalf("newNonce with 1s left: %v", err)
		}
		// (The 503 carried a nonce, so one caller may take it from the
		// pool and send nothing.)
		n0 := s.count("newNonce")
		c2.nonces = noncePool{}
		done := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := c2.nonce(t.Context())
				done <- err
			}()
		}
		for range 2 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		ts := s.timesOf("newNonce")[n0:]
		if len(ts) == 0 {
			t.Fatal("no newNonce request after the gate")
		}
		for _, at := range ts {
			if at.Sub(start) < 4*time.Second {
				t.Errorf("newNonce %v after a 503 with Retry-After: 4", at.Sub(start))
			}
		}
	})
}

// Point 5: an HTTP/2 stream reset (RST_STREAM) on the challenge accept is
// retried; the challenge is re-read first and accepted once.
func TestHTTP2StreamResetRetried(t *testing.T) {
	s := newStub()
	s.srv.Close()
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	s.srv.EnableHTTP2 = true
	s.srv.StartTLS()
	s.base = s.srv.URL
	defer s.Close()
	c := s.client()
	c.HTTPClient = s.srv.Client()
	ctx := testCtx(t)
	var protos []string
	c.OnRequest = func(ri RequestInfo) {
		if ri.Err != nil {
			protos = append(protos, ri.Err.Error())
		}
	}
	acct, err := c.NewAccount(ctx, Account{Key: ecKey(t, elliptic.P256())})
	if err != nil {
		t.Fatal(err)
	}
	o, _ := c.NewOrder(ctx, acct, []Identifier{DNSIdentifier("example.org")})
	az, _ := c.GetAuthorization(ctx, acct, o.Authorizations[0])
	s.addFault("challenge", fault{abort: true}, fault{abort: true})
	got, err := c.AcceptChallenge(ctx, acct, az.Challenges[0])
	if err != nil || got.Status != StatusProcessing {
		t.Fatalf("%v %+v", err, got)
	}
	if s.accepts != 1 {
		t.Errorf("%d accepts, want 1", s.accepts)
	}
	if len(protos) != 2 || !strings.Contains(protos[0], "stream error") {
		t.Errorf("transport errors %q, want two HTTP/2 stream errors", protos)
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
