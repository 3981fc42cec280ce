package acme

import (
	"context"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
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

// recorder is a server that must never be reached: it counts requests.
func recorder(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(200)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// Point 3: a redirect answering a signed POST is an error naming it; the
// signed request goes nowhere else, neither re-sent (307, 308) nor turned
// into a GET (301, 302, 303), and is not retried.
func TestPostRedirectRefused(t *testing.T) {
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			s, c, acct := setup(t)
			other, hits := recorder(t)
			loc := other.URL + "/new-order"
			s.addFault("newOrder", fault{status: status, problem: ProblemMalformed, location: loc})
			_, err := c.NewOrder(testCtx(t), acct, []Identifier{DNSIdentifier("example.org")})
			var re *RedirectError
			if !errors.As(err, &re) || re.Status != status || re.Location != loc || re.URL != s.url("/new-order") || re.Method != "POST" {
				t.Fatalf("err = %#v (%v)", err, err)
			}
			for _, want := range []string{"redirect", fmt.Sprint(status), loc, s.url("/new-order")} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("%d requests reached the redirect's target", n)
			}
			if n := s.count("newOrder"); n != 1 {
				t.Errorf("%d newOrder requests, want 1 (a redirect is not retried)", n)
			}
			if IsRetryable(err) {
				t.Error("IsRetryable(redirect) = true")
			}
		})
	}
	// A relative Location is resolved, and one on the same host is not
	// followed either.
	s, c, acct := setup(t)
	o, _ := c.NewOrder(testCtx(t), acct, []Identifier{DNSIdentifier("example.org")})
	s.addFault("order", fault{status: 307, location: "/order/elsewhere"})
	_, err := c.GetOrder(testCtx(t), acct, o.URL)
	var re *RedirectError
	if !errors.As(err, &re) || re.Location != s.url("/order/elsewhere") || s.count("order") != 1 {
		t.Fatalf("same-host 307: %v after %d requests", err, s.count("order"))
	}
}

// Point 3: GETs of the directory may follow redirects, within reason.
func TestDirectoryRedirects(t *testing.T) {
	s := newStub()
	defer s.Close()
	var hops atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, s.url("/dir"), http.StatusMovedPermanently)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		hops.Add(1)
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	front := httptest.NewServer(mux)
	defer front.Close()

	c := s.client()
	c.DirectoryURL = front.URL + "/moved"
	d, err := c.Directory(testCtx(t))
	if err != nil || d.NewOrder != s.url("/new-order") {
		t.Fatalf("redirected directory: %v %+v", err, d)
	}

	c = s.client()
	c.DirectoryURL = front.URL + "/loop"
	_, err = c.Directory(testCtx(t))
	var re *RedirectError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "more than 5 redirects") {
		t.Fatalf("redirect loop: %v", err)
	}
	if n := hops.Load(); n != maxRedirects+1 {
		t.Errorf("%d requests in the loop, want %d (and no retry)", n, maxRedirects+1)
	}
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

// Point 4: the Retry-After of a finalize answer is honoured by the
// WaitOrder that follows: the first poll comes 3 s later, not 12 ms.
func TestFinalizeRetryAfterHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c, acct := memSetup(t)
		o := readyOrder(t, c, acct)
		s.processingPolls = 1
		s.finalizeRetryAfter = "3"
		o, err := c.FinalizeOrder(t.Context(), acct, o, csr(t))
		if err != nil || o.Status != StatusProcessing {
			t.Fatalf("%v %+v", err, o)
		}
		finalized := time.Now()
		if !o.RetryAfter.Equal(finalized.Add(3 * time.Second)) {
			t.Errorf("Order.RetryAfter = %v, want finalize + 3s", o.RetryAfter)
		}
		polls := len(s.timesOf("order"))
		if o, err = c.WaitOrder(t.Context(), acct, o.URL); err != nil || o.Status != StatusValid {
			t.Fatalf("%v %+v", err, o)
		}
		ts := s.timesOf("order")[polls:]
		if len(ts) == 0 || ts[0].Sub(finalized) < 3*time.Second {
			t.Fatalf("first poll %v after a finalize answer with Retry-After: 3", ts[0].Sub(finalized))
		}
	})
}

// Point 4: the Retry-After of a challenge accept is honoured by
// WaitAuthorization and by WaitOrder while the order is pending.
func TestAcceptRetryAfterHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c, acct := memSetup(t)
		s.acceptRetryAfter = "5"
		o, _ := c.NewOrder(t.Context(), acct, []Identifier{DNSIdentifier("example.org")})
		az, _ := c.GetAuthorization(t.Context(), acct, o.Authorizations[0])
		if _, err := c.AcceptChallenge(t.Context(), acct, az.Challenges[0]); err != nil {
			t.Fatal(err)
		}
		accepted := time.Now()
		before := len(s.timesOf("authz"))
		if _, err := c.WaitAuthorization(t.Context(), acct, az.URL); err != nil {
			t.Fatal(err)
		}
		if ts := s.timesOf("authz")[before:]; ts[0].Sub(accepted) < 5*time.Second {
			t.Errorf("authorization polled %v after an accept with Retry-After: 5", ts[0].Sub(accepted))
		}

		// WaitOrder, while the order is pending, waits for it too.
		o, _ = c.NewOrder(t.Context(), acct, []Identifier{DNSIdentifier("example.net")})
		az, _ = c.GetAuthorization(t.Context(), acct, o.Authorizations[0])
		if _, err := c.AcceptChallenge(t.Context(), acct, az.Challenges[0]); err != nil {
			t.Fatal(err)
		}
		accepted = time.Now()
		before = len(s.timesOf("order"))
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		// The stub settles an authorization only when it is polled:
		// the order stays pending until the deadline.
		c.WaitOrder(ctx, acct, o.URL)
		if ts := s.timesOf("order")[before:]; len(ts) == 0 || ts[0].Sub(accepted) < 5*time.Second {
			t.Errorf("order polled %v after an accept with Retry-After: 5", ts[0].Sub(accepted))
		}
	})
}

// Point 4: an order processing with a Retry-After beyond the deadline
// fails at once, quoting it, instead of waiting until the deadline.
func TestRetryAfterBeyondDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c, acct := memSetup(t)
		o := readyOrder(t, c, acct)
		s.processingPolls = 1 << 30
		s.processingRetryAfter = "999999999"
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		defer cancel()
		o, err := c.FinalizeOrder(ctx, acct, o, csr(t))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got, err := c.WaitOrder(ctx, acct, o.URL)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("WaitOrder took %v; a Retry-After past the deadline must fail at once", d)
		}
		var we *WaitError
		// 999999999 s is past the 10-year cap on Retry-After.
		if !errors.As(err, &we) || we.RetryAfter.Before(start.Add(maxRetryAfterSeconds*time.Second)) || we.Status != "processing" {
			t.Fatalf("err = %#v", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) || got.Status != StatusProcessing {
			t.Errorf("errors.Is(DeadlineExceeded) false, or order %+v", got)
		}
		for _, want := range []string{o.URL, "Retry-After", we.RetryAfter.UTC().Format(time.RFC3339), "processing", "deadline"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})
}

// Point 4: an order processing forever ends at the deadline with an error
// that names the order, its last status and how long it was awaited.
func TestWaitOrderDeadlineNamesOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c, acct := memSetup(t)
		o := readyOrder(t, c, acct)
		s.processingPolls = 1 << 30
		o, _ = c.FinalizeOrder(t.Context(), acct, o, csr(t))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		defer cancel()
		_, err := c.WaitOrder(ctx, acct, o.URL)
		var we *WaitError
		if !errors.As(err, &we) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if we.Waited < 9*time.Minute || we.Attempts < 10 {
			t.Errorf("Waited %v, %d polls", we.Waited, we.Attempts)
		}
		for _, want := range []string{"order " + o.URL, `"processing"`, "polls", "context deadline exceeded"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		// The authorization wait says the same of itself.
		o2, _ := c.NewOrder(t.Context(), acct, []Identifier{DNSIdentifier("example.net")})
		ctx2, cancel2 := context.WithTimeout(t.Context(), time.Minute)
		defer cancel2()
		_, err = c.WaitAuthorization(ctx2, acct, o2.Authorizations[0]) // never accepted: pending
		if !errors.As(err, &we) || we.Resource != "authorization" || we.Status != "pending" || !strings.Contains(err.Error(), o2.Authorizations[0]) {
			t.Errorf("WaitAuthorization: %v", err)
		}
	})
}

// Point 4: a rate limit always carries the time to retry after, or says
// the CA gave none; one beyond the deadline fails at once, quoting it.
func TestRateLimitTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c, acct := memSetup(t)
		ids := []Identifier{DNSIdentifier("example.org")}

		// Retry-After: 3600, 1 minute left: at once.
		s.addFault("newOrder", fault{status: 429, problem: ProblemRateLimited, retryAfter: "3600", detail: "too many new orders recently"})
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		start := time.Now()
		_, err := c.NewOrder(ctx, acct, ids)
		cancel()
		if time.Since(start) != 0 || s.count("newOrder") != 1 {
			t.Errorf("waited %v, %d requests", time.Since(start), s.count("newOrder"))
		}
		ra, limited := RateLimitRetryAfter(err)
		if !limited || !ra.Equal(start.Add(time.Hour)) || !IsRateLimited(err) || !IsRetryable(err) {
			t.Fatalf("RateLimitRetryAfter = %v %v; err = %v", ra, limited, err)
		}
		want := "retry after " + start.Add(time.Hour).UTC().Format(time.RFC3339)
		if RateLimitMessage(err) != want || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "too many new orders") {
			t.Errorf("err %q / message %q lacks %q", err, RateLimitMessage(err), want)
		}

		// No Retry-After and no time in the detail: retried with backoff
		// until the deadline, then the error says there was no time. (A
		// new Client: this one honours the hour the CA asked for.)
		c = s.memClient()
		for range 1000 {
			s.addFault("newOrder", fault{status: 429, problem: ProblemRateLimited, detail: "too many new orders recently"})
		}
		ctx, cancel = context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err = c.NewOrder(ctx, acct, ids)
		if ra, limited := RateLimitRetryAfter(err); !limited || !ra.IsZero() {
			t.Fatalf("RateLimitRetryAfter = %v %v; err = %v", ra, limited, err)
		}
		if RateLimitMessage(err) != "the CA gave no time to retry after" || !strings.Contains(err.Error(), "the CA gave no time to retry after") {
			t.Errorf("err %q, message %q", err, RateLimitMessage(err))
		}
		if RateLimitMessage(errors.New("other")) != "" {
			t.Error("RateLimitMessage of a non-rate-limit error")
		}
	})
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

// Point 5: transient failures are retried with backoff until the
// deadline, however many; the error then names the request, the last
// status and how long it was tried.
func TestRetryUntilDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, c, acct := memSetup(t)
		c.retrySchedule = nil // the real backoff
		for range 10000 {
			s.addFault("newOrder", fault{status: 503, problem: ProblemServerInternal, detail: "overloaded"})
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		_, err := c.NewOrder(ctx, acct, []Identifier{DNSIdentifier("example.org")})
		var we *WaitError
		if !errors.As(err, &we) || we.Method != "POST" || we.URL != s.url("/new-order") || we.Status != "503 Service Unavailable" {
			t.Fatalf("err = %v", err)
		}
		n := s.count("newOrder")
		// 250ms doubling to 10s, each in [d/2, d]: at least 12 attempts
		// in 2 minutes, and no wait longer than the cap.
		if n < 12 || time.Since(start) > 2*time.Minute {
			t.Errorf("%d attempts in %v", n, time.Since(start))
		}
		ts := s.timesOf("newOrder")
		for i := 1; i < len(ts); i++ {
			if d := ts[i].Sub(ts[i-1]); d > retryCap {
				t.Errorf("wait %v between attempts, more than the cap %v", d, retryCap)
			}
		}
		if !IsRetryable(err) || !strings.Contains(err.Error(), "overloaded") || !strings.Contains(err.Error(), "newOrder") {
			t.Errorf("err %q", err)
		}
	})
}

// Point 5: a 501 Not Implemented (a CA without key rollover) is not
// retried and the error says what the CA does not support.
func TestNotImplementedNotRetried(t *testing.T) {
	s, c, acct := setup(t)
	s.addFault("keyChange", fault{status: 501, body: "not implemented", ctype: "text/plain"})
	start := time.Now()
	_, err := c.ChangeKey(testCtx(t), acct, ecKey(t, elliptic.P256()))
	if err == nil || s.count("keyChange") != 1 || time.Since(start) > time.Second {
		t.Fatalf("err = %v after %d requests and %v", err, s.count("keyChange"), time.Since(start))
	}
	if !strings.Contains(err.Error(), "does not support account key rollover") || !strings.Contains(err.Error(), "501") {
		t.Errorf("err %q does not say what is unsupported", err)
	}
	if !errors.Is(err, errors.ErrUnsupported) || IsRetryable(err) {
		t.Errorf("errors.Is(ErrUnsupported) = %v, IsRetryable = %v", errors.Is(err, errors.ErrUnsupported), IsRetryable(err))
	}
	var p *Problem
	if !errors.As(err, &p) || p.Status != 501 {
		t.Errorf("no *Problem in %v", err)
	}
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

// Point 2: a challenge answer of another type, URL or token than the
// challenge answered is refused.
func TestAcceptChallengeMismatch(t *testing.T) {
	for _, tc := range []struct {
		field  string
		mutate func(m map[string]any)
	}{
		{"type", func(m map[string]any) { m["type"] = "tls-alpn-01" }},
		{"url", func(m map[string]any) { m["url"] = "https://elsewhere.example/chal/9" }},
		{"token", func(m map[string]any) { m["token"] = "another-token" }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			s, c, acct := setup(t)
			ctx := testCtx(t)
			o, _ := c.NewOrder(ctx, acct, []Identifier{DNSIdentifier("example.org")})
			az, _ := c.GetAuthorization(ctx, acct, o.Authorizations[0])
			chal := az.Challenges[0]
			m := map[string]any{"type": chal.Type, "url": chal.URL, "status": "processing", "token": chal.Token}
			tc.mutate(m)
			body, _ := json.Marshal(m)
			s.addFault("challenge", fault{status: 200, body: string(body)})
			_, err := c.AcceptChallenge(ctx, acct, chal)
			var me *MismatchError
			if !errors.As(err, &me) || me.Field != tc.field || me.Resource != "challenge" {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(m[tc.field])) || !strings.Contains(err.Error(), chal.URL) {
				t.Errorf("error %q does not say what differs", err)
			}
		})
	}
}

// Point 2: orders and authorizations are checked against what was asked.
func TestOrderAndAuthorizationMismatch(t *testing.T) {
	s, c, acct := setup(t)
	ctx := testCtx(t)
	ids := []Identifier{DNSIdentifier("a.example"), DNSIdentifier("b.example")}

	// newOrder answers with other identifiers.
	s.addFault("newOrder", fault{status: 201, location: s.url("/order/99"),
		body: `{"status":"pending","identifiers":[{"type":"dns","value":"a.example"}],"authorizations":[],"finalize":"` + s.url("/finalize/99") + `"}`})
	_, err := c.NewOrder(ctx, acct, ids)
	var me *MismatchError
	if !errors.As(err, &me) || me.Field != "identifiers" || !strings.Contains(err.Error(), "b.example") {
		t.Fatalf("newOrder with a name missing: %v", err)
	}

	// Case and a final dot do not matter; order does not.
	o, err := c.NewOrder(ctx, acct, []Identifier{DNSIdentifier("B.example."), DNSIdentifier("a.example")})
	if err != nil {
		t.Fatalf("same names in another spelling: %v", err)
	}

	// An order poll whose identifiers changed.
	s.addFault("order", fault{status: 200, body: `{"status":"pending","identifiers":[{"type":"dns","value":"evil.example"}]}`})
	if _, err := c.GetOrder(ctx, acct, o.URL); !errors.As(err, &me) || me.Field != "identifiers" {
		t.Fatalf("changed order: %v", err)
	}

	// An authorization of the order for another identifier.
	s.addFault("authz", fault{status: 200, body: `{"status":"pending","identifier":{"type":"dns","value":"evil.example"},"challenges":[]}`})
	if _, err := c.GetAuthorization(ctx, acct, o.Authorizations[0]); !errors.As(err, &me) || me.Field != "identifier" || !strings.Contains(err.Error(), "evil.example") {
		t.Fatalf("authorization for another name: %v", err)
	}
	// ...and the real ones pass.
	for _, u := range o.Authorizations {
		if _, err := c.GetAuthorization(ctx, acct, u); err != nil {
			t.Fatal(err)
		}
	}

	// A finalize answer with a Location other than the order's.
	o = readyOrder(t, c, acct)
	s.finalizeLocation = true
	s.addFault("finalize", fault{status: 200, location: s.url("/order/elsewhere"), body: `{"status":"processing","identifiers":[{"type":"dns","value":"example.org"}]}`})
	if _, err := c.FinalizeOrder(ctx, acct, o, csr(t)); !errors.As(err, &me) || me.Field != "Location" {
		t.Fatalf("finalize elsewhere: %v", err)
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
