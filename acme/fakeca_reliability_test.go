package acme_test

// Tests for issue 11 against acmetest's fake CA: redirects on POST (point
// 3), waits that cannot end in time (point 4), retries by kind until the
// deadline (point 5) and CA objects checked against what was asked (point
// 2). The time-dependent ones run in a testing/synctest bubble against
// the in-memory CA: the fake clock moves only when every goroutine waits,
// so "after 3 s" is exact and costs no real time.

import (
	"context"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
)

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
	newOrderURL := acmetest.MemoryCABase + "/new-order"
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			ca, c, acct := memCA(t, acmetest.CAOptions{})
			other, hits := recorder(t)
			loc := other.URL + "/new-order"
			ca.InjectFault(acmetest.EndpointNewOrder, 1, acmetest.CAFault{Answer: problemAnswer(status, acme.ProblemMalformed, "", "Location", loc)})
			_, err := c.NewOrder(ctxOf(t), acct, exampleTest)
			var re *acme.RedirectError
			if !errors.As(err, &re) || re.Status != status || re.Location != loc || re.URL != newOrderURL || re.Method != "POST" {
				t.Fatalf("err = %#v (%v)", err, err)
			}
			for _, want := range []string{"redirect", fmt.Sprint(status), loc, newOrderURL} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("%d requests reached the redirect's target", n)
			}
			if n := ca.Requests(acmetest.EndpointNewOrder); n != 1 {
				t.Errorf("%d newOrder requests, want 1 (a redirect is not retried)", n)
			}
			if acme.IsRetryable(err) {
				t.Error("IsRetryable(redirect) = true")
			}
		})
	}
	// A relative Location is resolved, and one on the same host is not
	// followed either.
	ca, c, acct := memCA(t, acmetest.CAOptions{})
	o, _ := c.NewOrder(ctxOf(t), acct, exampleTest)
	ca.InjectFault(acmetest.EndpointOrder, 1, acmetest.CAFault{Answer: rawAnswer(307, "text/plain", "", "Location", "/order/elsewhere")})
	_, err := c.GetOrder(ctxOf(t), acct, o.URL)
	var re *acme.RedirectError
	if n := ca.Requests(acmetest.EndpointOrder); !errors.As(err, &re) || re.Location != acmetest.MemoryCABase+"/order/elsewhere" || n != 1 {
		t.Fatalf("same-host 307: %v after %d requests", err, n)
	}
}

// Point 3: GETs of the directory may follow redirects, within reason.
func TestDirectoryRedirects(t *testing.T) {
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{})
	var hops atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, ca.DirectoryURL, http.StatusMovedPermanently)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		hops.Add(1)
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	front := httptest.NewUnstartedServer(mux)
	front.TLS = nil
	front.StartTLS()
	defer front.Close()
	// A client that trusts both servers.
	hc := ca.HTTPClient()
	roots := ca.TLSRoots()
	roots.AddCert(front.Certificate())
	hc.Transport.(*http.Transport).TLSClientConfig.RootCAs = roots

	c := &acme.Client{DirectoryURL: front.URL + "/moved", HTTPClient: hc}
	acme.SetSchedules(c, fastRetry, fastPoll)
	d, err := c.Directory(ctxOf(t))
	if err != nil || d.NewOrder != strings.TrimSuffix(ca.DirectoryURL, "/dir")+"/new-order" {
		t.Fatalf("redirected directory: %v %+v", err, d)
	}

	c = &acme.Client{DirectoryURL: front.URL + "/loop", HTTPClient: hc}
	acme.SetSchedules(c, fastRetry, fastPoll)
	_, err = c.Directory(ctxOf(t))
	var re *acme.RedirectError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "more than 5 redirects") {
		t.Fatalf("redirect loop: %v", err)
	}
	if n := hops.Load(); n != acme.MaxRedirects+1 {
		t.Errorf("%d requests in the loop, want %d (and no retry)", n, acme.MaxRedirects+1)
	}
}

// Point 4: the Retry-After of a finalize answer is honoured by the
// WaitOrder that follows: the first poll comes 3 s later, not 12 ms.
func TestFinalizeRetryAfterHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, c, acct := bubbleCA(t, acmetest.CAOptions{ProcessingPolls: 1, RetryAfter: 3 * time.Second})
		o := readyOrder(t, c, acct)
		o, err := c.FinalizeOrder(t.Context(), acct, o, csrFor(t, "example.test"))
		if err != nil || o.Status != acme.StatusProcessing {
			t.Fatalf("%v %+v", err, o)
		}
		finalized := time.Now()
		if !o.RetryAfter.Equal(finalized.Add(3 * time.Second)) {
			t.Errorf("Order.RetryAfter = %v, want finalize + 3s", o.RetryAfter)
		}
		times := requestTimes(c)
		if o, err = c.WaitOrder(t.Context(), acct, o.URL); err != nil || o.Status != acme.StatusValid {
			t.Fatalf("%v %+v", err, o)
		}
		ts := times("order")
		if len(ts) == 0 || ts[0].Sub(finalized) < 3*time.Second {
			t.Fatalf("first poll %v after a finalize answer with Retry-After: 3", ts[0].Sub(finalized))
		}
	})
}

// Point 4: the Retry-After of a challenge accept is honoured by
// WaitAuthorization and by WaitOrder while the order is pending.
func TestAcceptRetryAfterHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, c, acct := bubbleCA(t, acmetest.CAOptions{RetryAfter: 5 * time.Second})
		// Held, the validation leaves the challenge processing (the
		// accept answer carries Retry-After: 5) and the authorization
		// pending until decided.
		ca.HoldValidations()
		o, _ := c.NewOrder(t.Context(), acct, exampleTest)
		az, _ := c.GetAuthorization(t.Context(), acct, o.Authorizations[0])
		if _, err := c.AcceptChallenge(t.Context(), acct, az.Challenges[0]); err != nil {
			t.Fatal(err)
		}
		accepted := time.Now()
		held, err := ca.NextHeld(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		held.Approve()
		synctest.Wait()
		times := requestTimes(c)
		if _, err := c.WaitAuthorization(t.Context(), acct, az.URL); err != nil {
			t.Fatal(err)
		}
		if ts := times("authz"); ts[0].Sub(accepted) < 5*time.Second {
			t.Errorf("authorization polled %v after an accept with Retry-After: 5", ts[0].Sub(accepted))
		}

		// WaitOrder, while the order is pending, waits for it too.
		o, _ = c.NewOrder(t.Context(), acct, []acme.Identifier{acme.DNSIdentifier("example.net")})
		az, _ = c.GetAuthorization(t.Context(), acct, o.Authorizations[0])
		if _, err := c.AcceptChallenge(t.Context(), acct, az.Challenges[0]); err != nil {
			t.Fatal(err)
		}
		accepted = time.Now()
		times = requestTimes(c)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		// The validation stays held: the order stays pending until the
		// deadline.
		c.WaitOrder(ctx, acct, o.URL)
		if ts := times("order"); len(ts) == 0 || ts[0].Sub(accepted) < 5*time.Second {
			t.Errorf("order polled %v after an accept with Retry-After: 5", ts[0].Sub(accepted))
		}
	})
}

// Point 4: an order processing with a Retry-After beyond the deadline
// fails at once, quoting it, instead of waiting until the deadline.
func TestRetryAfterBeyondDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, c, acct := bubbleCA(t, acmetest.CAOptions{ProcessingPolls: 1 << 30, RetryAfter: 999999999 * time.Second})
		o := readyOrder(t, c, acct)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		defer cancel()
		// The Retry-After comes with the first poll, not with the
		// finalize answer.
		ca.InjectFault(acmetest.EndpointFinalize, 1, acmetest.CAFault{Rewrite: func(a *acmetest.Answer) { a.Header.Del("Retry-After") }})
		o, err := c.FinalizeOrder(ctx, acct, o, csrFor(t, "example.test"))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got, err := c.WaitOrder(ctx, acct, o.URL)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("WaitOrder took %v; a Retry-After past the deadline must fail at once", d)
		}
		var we *acme.WaitError
		// 999999999 s is past the 10-year cap on Retry-After.
		if !errors.As(err, &we) || we.RetryAfter.Before(start.Add(acme.MaxRetryAfterSeconds*time.Second)) || we.Status != "processing" {
			t.Fatalf("err = %#v", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) || got.Status != acme.StatusProcessing {
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
		_, c, acct := bubbleCA(t, acmetest.CAOptions{ProcessingPolls: 1 << 30})
		o := readyOrder(t, c, acct)
		o, _ = c.FinalizeOrder(t.Context(), acct, o, csrFor(t, "example.test"))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		defer cancel()
		_, err := c.WaitOrder(ctx, acct, o.URL)
		var we *acme.WaitError
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
		o2, _ := c.NewOrder(t.Context(), acct, []acme.Identifier{acme.DNSIdentifier("example.net")})
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
		ca, c, acct := bubbleCA(t, acmetest.CAOptions{})
		newOrders := func() int { return ca.Requests(acmetest.EndpointNewOrder) }

		// Retry-After: 3600, 1 minute left: at once.
		ca.InjectFault(acmetest.EndpointNewOrder, 1, acmetest.CAFault{Answer: problemAnswer(429, acme.ProblemRateLimited, "too many new orders recently", "Retry-After", "3600")})
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		start := time.Now()
		_, err := c.NewOrder(ctx, acct, exampleTest)
		cancel()
		if time.Since(start) != 0 || newOrders() != 1 {
			t.Errorf("waited %v, %d requests", time.Since(start), newOrders())
		}
		ra, limited := acme.RateLimitRetryAfter(err)
		if !limited || !ra.Equal(start.Add(time.Hour)) || !acme.IsRateLimited(err) || !acme.IsRetryable(err) {
			t.Fatalf("RateLimitRetryAfter = %v %v; err = %v", ra, limited, err)
		}
		want := "retry after " + start.Add(time.Hour).UTC().Format(time.RFC3339)
		if acme.RateLimitMessage(err) != want || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "too many new orders") {
			t.Errorf("err %q / message %q lacks %q", err, acme.RateLimitMessage(err), want)
		}

		// No Retry-After and no time in the detail: retried with backoff
		// until the deadline, then the error says there was no time. (A
		// new Client: this one honours the hour the CA asked for.)
		c = &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
		ca.InjectFault(acmetest.EndpointNewOrder, 1000, acmetest.CAFault{Answer: problemAnswer(429, acme.ProblemRateLimited, "too many new orders recently")})
		ctx, cancel = context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err = c.NewOrder(ctx, acct, exampleTest)
		if ra, limited := acme.RateLimitRetryAfter(err); !limited || !ra.IsZero() {
			t.Fatalf("RateLimitRetryAfter = %v %v; err = %v", ra, limited, err)
		}
		if acme.RateLimitMessage(err) != "the CA gave no time to retry after" || !strings.Contains(err.Error(), "the CA gave no time to retry after") {
			t.Errorf("err %q, message %q", err, acme.RateLimitMessage(err))
		}
		if acme.RateLimitMessage(errors.New("other")) != "" {
			t.Error("RateLimitMessage of a non-rate-limit error")
		}
	})
}

// Point 5: transient failures are retried with backoff until the
// deadline, however many; the error then names the request, the last
// status and how long it was tried.
func TestRetryUntilDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, c, acct := bubbleCA(t, acmetest.CAOptions{})
		ca.InjectFault(acmetest.EndpointNewOrder, 10000, acmetest.CAFault{Answer: problemAnswer(503, acme.ProblemServerInternal, "overloaded")})
		times := requestTimes(c)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		_, err := c.NewOrder(ctx, acct, exampleTest)
		var we *acme.WaitError
		if !errors.As(err, &we) || we.Method != "POST" || we.URL != acmetest.MemoryCABase+"/new-order" || we.Status != "503 Service Unavailable" {
			t.Fatalf("err = %v", err)
		}
		n := ca.Requests(acmetest.EndpointNewOrder)
		// 250ms doubling to 10s, each in [d/2, d]: at least 12 attempts
		// in 2 minutes, and no wait longer than the cap.
		if n < 12 || time.Since(start) > 2*time.Minute {
			t.Errorf("%d attempts in %v", n, time.Since(start))
		}
		ts := times("newOrder")
		for i := 1; i < len(ts); i++ {
			if d := ts[i].Sub(ts[i-1]); d > acme.RetryCap {
				t.Errorf("wait %v between attempts, more than the cap %v", d, acme.RetryCap)
			}
		}
		if !acme.IsRetryable(err) || !strings.Contains(err.Error(), "overloaded") || !strings.Contains(err.Error(), "newOrder") {
			t.Errorf("err %q", err)
		}
	})
}

// Point 5: a 501 Not Implemented (a CA without key rollover) is not
// retried and the error says what the CA does not support.
func TestNotImplementedNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, c, acct := bubbleCA(t, acmetest.CAOptions{})
		ca.InjectFault(acmetest.EndpointKeyChange, 1, acmetest.CAFault{Answer: rawAnswer(501, "text/plain", "not implemented")})
		start := time.Now()
		_, err := c.ChangeKey(ctxOf(t), acct, newKey(t, elliptic.P256()))
		if n := ca.Requests(acmetest.EndpointKeyChange); err == nil || n != 1 || time.Since(start) > time.Second {
			t.Fatalf("err = %v after %d requests and %v", err, n, time.Since(start))
		}
		if !strings.Contains(err.Error(), "does not support account key rollover") || !strings.Contains(err.Error(), "501") {
			t.Errorf("err %q does not say what is unsupported", err)
		}
		if !errors.Is(err, errors.ErrUnsupported) || acme.IsRetryable(err) {
			t.Errorf("errors.Is(ErrUnsupported) = %v, IsRetryable = %v", errors.Is(err, errors.ErrUnsupported), acme.IsRetryable(err))
		}
		var p *acme.Problem
		if !errors.As(err, &p) || p.Status != 501 {
			t.Errorf("no *Problem in %v", err)
		}
	})
}

// Point 2: a challenge answer of another type, URL or token than the
// challenge answered is refused.
func TestAcceptChallengeMismatch(t *testing.T) {
	for _, tc := range []struct {
		field  string
		mutate func(m map[string]any)
	}{
		{"type", func(m map[string]any) { m["type"] = "tls-alpn-01" }},
		{"url", func(m map[string]any) { m["url"] = "https://elsewhere.example.test/chal/9" }},
		{"token", func(m map[string]any) { m["token"] = "another-token" }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			ca, c, acct := memCA(t, acmetest.CAOptions{})
			ctx := ctxOf(t)
			o, _ := c.NewOrder(ctx, acct, exampleTest)
			az, _ := c.GetAuthorization(ctx, acct, o.Authorizations[0])
			chal := az.Challenges[0]
			m := map[string]any{"type": chal.Type, "url": chal.URL, "status": "processing", "token": chal.Token}
			tc.mutate(m)
			body, _ := json.Marshal(m)
			ca.InjectFault(acmetest.EndpointChallenge, 1, acmetest.CAFault{Answer: rawAnswer(200, "application/json", string(body))})
			_, err := c.AcceptChallenge(ctx, acct, chal)
			var me *acme.MismatchError
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
	ca, c, acct := memCA(t, acmetest.CAOptions{})
	ctx := ctxOf(t)
	base := acmetest.MemoryCABase
	ids := []acme.Identifier{acme.DNSIdentifier("a.example.test"), acme.DNSIdentifier("b.example.test")}

	// newOrder answers with other identifiers.
	ca.InjectFault(acmetest.EndpointNewOrder, 1, acmetest.CAFault{Answer: rawAnswer(201, "application/json",
		`{"status":"pending","identifiers":[{"type":"dns","value":"a.example.test"}],"authorizations":[],"finalize":"`+base+`/finalize/99"}`,
		"Location", base+"/order/99")})
	_, err := c.NewOrder(ctx, acct, ids)
	var me *acme.MismatchError
	if !errors.As(err, &me) || me.Field != "identifiers" || !strings.Contains(err.Error(), "b.example.test") {
		t.Fatalf("newOrder with a name missing: %v", err)
	}

	// Case and a final dot do not matter; order does not.
	ca.InjectFault(acmetest.EndpointNewOrder, 1, acmetest.CAFault{Rewrite: func(a *acmetest.Answer) {
		var doc map[string]any
		json.Unmarshal(a.Body, &doc)
		doc["identifiers"] = []acme.Identifier{acme.DNSIdentifier("B.example.test."), acme.DNSIdentifier("a.example.test")}
		a.Body, _ = json.Marshal(doc)
	}})
	o, err := c.NewOrder(ctx, acct, ids)
	if err != nil {
		t.Fatalf("same names in another spelling: %v", err)
	}

	// An order poll whose identifiers changed.
	ca.InjectFault(acmetest.EndpointOrder, 1, acmetest.CAFault{Answer: rawAnswer(200, "application/json", `{"status":"pending","identifiers":[{"type":"dns","value":"evil.example.test"}]}`)})
	if _, err := c.GetOrder(ctx, acct, o.URL); !errors.As(err, &me) || me.Field != "identifiers" {
		t.Fatalf("changed order: %v", err)
	}

	// An authorization of the order for another identifier.
	ca.InjectFault(acmetest.EndpointAuthz, 1, acmetest.CAFault{Answer: rawAnswer(200, "application/json", `{"status":"pending","identifier":{"type":"dns","value":"evil.example.test"},"challenges":[]}`)})
	if _, err := c.GetAuthorization(ctx, acct, o.Authorizations[0]); !errors.As(err, &me) || me.Field != "identifier" || !strings.Contains(err.Error(), "evil.example.test") {
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
	ca.InjectFault(acmetest.EndpointFinalize, 1, acmetest.CAFault{Answer: rawAnswer(200, "application/json",
		`{"status":"processing","identifiers":[{"type":"dns","value":"example.test"}]}`, "Location", base+"/order/elsewhere")})
	if _, err := c.FinalizeOrder(ctx, acct, o, csrFor(t, "example.test")); !errors.As(err, &me) || me.Field != "Location" {
		t.Fatalf("finalize elsewhere: %v", err)
	}
}

// Point 4: a Retry-After holds for every later request to the URL, not
// only for the retries of the call that got it: a 503's for everyone, a
// 429's for the same account.
func TestRetryAfterSharedAcrossCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, c, acct := bubbleCA(t, acmetest.CAOptions{})
		newOrders := func() int { return ca.Requests(acmetest.EndpointNewOrder) }
		other, err := c.NewAccount(t.Context(), acme.Account{Key: newKey(t, elliptic.P256()), TermsOfServiceAgreed: true})
		if err != nil {
			t.Fatal(err)
		}
		times := requestTimes(c)
		ca.InjectFault(acmetest.EndpointNewOrder, 1, acmetest.CAFault{Answer: problemAnswer(429, acme.ProblemRateLimited, "slow down", "Retry-After", "30")})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err = c.NewOrder(ctx, acct, exampleTest)
		cancel()
		if !acme.IsRateLimited(err) || newOrders() != 1 {
			t.Fatalf("err = %v, %d requests", err, newOrders())
		}
		limited := time.Now()
		// Another call of the same account, 10 s left: fails at once,
		// without a request, quoting the CA's time.
		ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
		_, err = c.NewOrder(ctx, acct, exampleTest)
		cancel()
		var we *acme.WaitError
		if !errors.As(err, &we) || !we.RetryAfter.Equal(limited.Add(30*time.Second)) || !acme.IsRateLimited(err) || newOrders() != 1 {
			t.Fatalf("second call: %v, %d requests", err, newOrders())
		}
		// Another account is not held back.
		if _, err := c.NewOrder(t.Context(), other, exampleTest); err != nil || time.Since(limited) != 0 {
			t.Fatalf("other account: %v after %v", err, time.Since(limited))
		}
		// The same account with a minute left waits for the 30 s.
		if _, err := c.NewOrder(t.Context(), acct, exampleTest); err != nil {
			t.Fatal(err)
		}
		if ts := times("newOrder"); ts[len(ts)-1].Sub(limited) < 30*time.Second {
			t.Errorf("request %v after a Retry-After: 30", ts[len(ts)-1].Sub(limited))
		}

		// A 503's Retry-After on newNonce holds for every caller.
		c2 := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
		times2 := requestTimes(c2)
		ca.InjectFault(acmetest.EndpointNewNonce, 1, acmetest.CAFault{Answer: problemAnswer(503, acme.ProblemServerInternal, "", "Retry-After", "4")})
		start := time.Now()
		ctx, cancel = context.WithTimeout(t.Context(), time.Second)
		_, err = acme.Nonce(ctx, c2)
		cancel()
		if !errors.As(err, &we) || we.Status != "503 Service Unavailable" {
			t.Fatalf("newNonce with 1s left: %v", err)
		}
		// (The 503 carried a nonce, so one caller may take it from the
		// pool and send nothing.)
		n0 := len(times2("newNonce"))
		acme.EmptyNonces(c2)
		done := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := acme.Nonce(t.Context(), c2)
				done <- err
			}()
		}
		for range 2 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		ts := times2("newNonce")[n0:]
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
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{HTTP2: true})
	c := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
	acme.SetSchedules(c, fastRetry, fastPoll)
	ctx := ctxOf(t)
	var protos []string
	c.OnRequest = func(ri acme.RequestInfo) {
		if ri.Err != nil {
			protos = append(protos, ri.Err.Error())
		}
	}
	acct, err := c.NewAccount(ctx, acme.Account{Key: newKey(t, elliptic.P256()), TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	// Held, each accept the CA acts on is one held validation, and the
	// challenge stays processing.
	ca.HoldValidations()
	o, _ := c.NewOrder(ctx, acct, exampleTest)
	az, _ := c.GetAuthorization(ctx, acct, o.Authorizations[0])
	ca.InjectFault(acmetest.EndpointChallenge, 2, acmetest.CAFault{Fault: acmetest.ConnectionReset})
	got, err := c.AcceptChallenge(ctx, acct, az.Challenges[0])
	if err != nil || got.Status != acme.StatusProcessing {
		t.Fatalf("%v %+v", err, got)
	}
	if n := ca.HeldCount(); n != 1 {
		t.Errorf("%d accepts, want 1", n)
	}
	if len(protos) != 2 || !strings.Contains(protos[0], "stream error") {
		t.Errorf("transport errors %q, want two HTTP/2 stream errors", protos)
	}
}

// A 429 to newOrder holds back the account's orders for the same
// identifiers only: a CA's limits per name (certificates for a domain,
// an identifier paused, for hours or days) must not stop the renewals of
// every other name. Once orders for several sets of identifiers are held
// back with no order accepted since the first of them, the limit is
// taken for the account's and holds back every order, so that a queue of
// them does not send one refused request each.
func TestRateLimitHoldsBackTheSameIdentifiers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, c, acct := bubbleCA(t, acmetest.CAOptions{})
		newOrders := func() int { return ca.Requests(acmetest.EndpointNewOrder) }
		ids := func(name string) []acme.Identifier { return []acme.Identifier{acme.DNSIdentifier(name)} }
		limit := func(name string) {
			t.Helper()
			before := newOrders()
			ca.InjectFault(acmetest.EndpointNewOrder, 1, acmetest.CAFault{Answer: problemAnswer(429, acme.ProblemRateLimited, "too many certificates for "+name, "Retry-After", "86400")})
			if _, err := c.NewOrder(t.Context(), acct, ids(name)); !acme.IsRateLimited(err) || newOrders() != before+1 {
				t.Fatalf("%s: err = %v, %d requests", name, err, newOrders()-before)
			}
		}
		heldBack := func(name string) bool {
			t.Helper()
			before := newOrders()
			_, err := c.NewOrder(t.Context(), acct, ids(name))
			switch {
			case err == nil && newOrders() == before+1:
				return false
			case acme.IsRateLimited(err) && newOrders() == before:
				return true
			}
			t.Fatalf("%s: err = %v, %d requests", name, err, newOrders()-before)
			return false
		}
		limit("a.example.test")
		if !heldBack("A.example.test") {
			t.Error("an order for the identifiers rate limited is sent before its Retry-After")
		}
		if heldBack("b.example.test") {
			t.Error("a rate limit for a.example.test holds back the order for b.example.test")
		}
		limit("c.example.test")
		if heldBack("d.example.test") {
			t.Error("two names' rate limits hold back the order for a third")
		}
		limit("e.example.test")
		if heldBack("f.example.test") {
			t.Error("three names held back, orders for others accepted between them, and the order for a fourth is held back")
		}
		// Refused for three names in a row, none accepted since: the
		// account's limit.
		limit("g.example.test")
		limit("h.example.test")
		limit("i.example.test")
		if !heldBack("j.example.test") {
			t.Error("orders for three names refused in a row, and the order for a fourth is still sent")
		}
	})
}
