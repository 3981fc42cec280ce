package acme_test

// Transport behaviour of the client (retries, Retry-After, lost answers,
// malformed answers) against acmetest's in-memory fake CA; timing tests
// run in a testing/synctest bubble, on its clock.

import (
	"context"
	"crypto/elliptic"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
)

var exampleTest = []acme.Identifier{acme.DNSIdentifier("example.test")}

func TestBadNonceRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, c, acct := memCA(t, acmetest.CAOptions{})
		ctx := ctxOf(t)
		heads := ca.Requests(acmetest.EndpointNewNonce)
		// The CA answers each badNonce with a fresh nonce; the client must
		// use it rather than ask newNonce.
		ca.InjectFault(acmetest.EndpointNewOrder, 2, acmetest.CAFault{Fault: acmetest.BadNonce})
		if _, err := c.NewOrder(ctx, acct, exampleTest); err != nil {
			t.Fatal(err)
		}
		if n := ca.Requests(acmetest.EndpointNewOrder); n != 3 {
			t.Errorf("%d newOrder requests, want 3", n)
		}
		if n := ca.Requests(acmetest.EndpointNewNonce) - heads; n != 0 {
			t.Errorf("%d newNonce requests after badNonce, want 0", n)
		}

		// A nonce the CA does not know is a real badNonce from its checks.
		acme.PutNonce(c, "c3RhbGU")
		if _, err := c.GetAccount(ctx, acct); err != nil {
			t.Fatalf("stale pooled nonce: %v", err)
		}

		// Bounded.
		ca.InjectFault(acmetest.EndpointAccount, acme.MaxBadNonceRetries+1, acmetest.CAFault{Fault: acmetest.BadNonce})
		start := time.Now()
		_, err := c.GetAccount(ctx, acct)
		if !acme.IsBadNonce(err) {
			t.Fatalf("after %d badNonce: %v", acme.MaxBadNonceRetries+1, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("badNonce retries took %v; they must not sleep", d)
		}
	})
}

func TestRetry503(t *testing.T) {
	ca, c, acct := memCA(t, acmetest.CAOptions{})
	o, err := c.NewOrder(ctxOf(t), acct, exampleTest)
	if err != nil {
		t.Fatal(err)
	}
	ca.InjectFault(acmetest.EndpointOrder, 1, acmetest.CAFault{Answer: rawAnswer(503, "text/html", "<html>down for maintenance</html>")})
	var statuses []int
	c.OnRequest = func(ri acme.RequestInfo) { statuses = append(statuses, ri.Status) }
	if _, err := c.GetOrder(ctxOf(t), acct, o.URL); err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 2 || statuses[0] != 503 || statuses[1] != 200 {
		t.Errorf("statuses %v", statuses)
	}
}

func TestRetryAfterDate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, c, acct := memCA(t, acmetest.CAOptions{})
		o, _ := c.NewOrder(ctxOf(t), acct, exampleTest)
		ra := time.Now().Add(time.Second).UTC().Truncate(time.Second)
		ca.InjectFault(acmetest.EndpointOrder, 1, acmetest.CAFault{Answer: problemAnswer(503, acme.ProblemServerInternal, "", "Retry-After", ra.Format(http.TimeFormat))})
		times := requestTimes(c)
		if _, err := c.GetOrder(ctxOf(t), acct, o.URL); err != nil {
			t.Fatal(err)
		}
		ts := times("order")
		if len(ts) != 2 || ts[1].Before(ra) {
			t.Errorf("retried at %v, before Retry-After %v", ts[len(ts)-1], ra)
		}
	})
}

func TestRateLimitedRetryAfterSeconds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, c, acct := memCA(t, acmetest.CAOptions{})
		ca.InjectFault(acmetest.EndpointNewOrder, 1, acmetest.CAFault{Answer: problemAnswer(429, acme.ProblemRateLimited, "too many orders", "Retry-After", "1")})
		times := requestTimes(c)
		if _, err := c.NewOrder(ctxOf(t), acct, exampleTest); err != nil {
			t.Fatal(err)
		}
		ts := times("newOrder")
		if len(ts) != 2 {
			t.Fatalf("%d requests", len(ts))
		}
		if d := ts[1].Sub(ts[0]); d < time.Second {
			t.Errorf("second request %v after the first, before Retry-After: 1", d)
		}
	})
}

func TestRateLimitedLongRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, c, acct := memCA(t, acmetest.CAOptions{})
		ca.InjectFault(acmetest.EndpointNewOrder, 1, acmetest.CAFault{Answer: problemAnswer(429, acme.ProblemRateLimited, "too many certificates", "Retry-After", "3600")})
		start := time.Now()
		_, err := c.NewOrder(ctxOf(t), acct, exampleTest)
		if !acme.IsRateLimited(err) || !acme.IsRetryable(err) {
			t.Fatalf("err = %v", err)
		}
		ra, ok := acme.RetryAfter(err)
		if !ok || ra.Sub(start) < 59*time.Minute {
			t.Errorf("RetryAfter = %v %v", ra, ok)
		}
		if time.Since(start) > time.Second || ca.Requests(acmetest.EndpointNewOrder) != 1 {
			t.Error("waited for an hour-long Retry-After instead of returning it")
		}
		if !strings.Contains(err.Error(), "too many certificates") {
			t.Errorf("error %q lacks the CA's detail", err)
		}
	})
}

func TestRetryStopsAtDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, c, acct := memCA(t, acmetest.CAOptions{})
		acme.SetSchedules(c, []time.Duration{time.Second, time.Second, time.Second}, fastPoll)
		ca.InjectFault(acmetest.EndpointNewOrder, 4, acmetest.CAFault{Fault: acmetest.Status500})
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.NewOrder(ctx, acct, exampleTest)
		if err == nil || !acme.IsRetryable(err) {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > 300*time.Millisecond {
			t.Errorf("took %v; should give up when the backoff exceeds the deadline", d)
		}
	})
}

// TestRetryNoCount: transient failures are retried for as long as the
// deadline allows, not a fixed number of times (issue 11, point 5: two
// certificates of 600 were lost when six attempts ran out).
func TestRetryNoCount(t *testing.T) {
	ca, c, acct := memCA(t, acmetest.CAOptions{})
	ca.InjectFault(acmetest.EndpointNewOrder, 10, acmetest.CAFault{Answer: rawAnswer(502, "text/plain", "bad gateway")})
	if _, err := c.NewOrder(ctxOf(t), acct, exampleTest); err != nil {
		t.Fatalf("after 10 transient failures: %v", err)
	}
	if n := ca.Requests(acmetest.EndpointNewOrder); n != 11 {
		t.Errorf("%d attempts, want 11", n)
	}
}

func TestRefusalNotRetried(t *testing.T) {
	ca, c, acct := memCA(t, acmetest.CAOptions{})
	ca.InjectFault(acmetest.EndpointNewOrder, 1, acmetest.CAFault{Answer: problemAnswer(403, acme.ProblemUnauthorized, "no")})
	_, err := c.NewOrder(ctxOf(t), acct, exampleTest)
	if n := ca.Requests(acmetest.EndpointNewOrder); !acme.IsUnauthorized(err) || acme.IsRetryable(err) || n != 1 {
		t.Fatalf("err = %v after %d requests", err, n)
	}
}

func TestNewNonceRetried(t *testing.T) {
	ca := acmetest.NewTestMemoryCA(t, acmetest.CAOptions{})
	c := memClient(ca)
	ca.InjectFault(acmetest.EndpointNewNonce, 1, acmetest.CAFault{Answer: problemAnswer(503, acme.ProblemServerInternal, "")})
	ca.InjectFault(acmetest.EndpointNewNonce, 1, acmetest.CAFault{Fault: acmetest.ConnectionReset})
	if _, err := c.NewAccount(ctxOf(t), acme.Account{Key: newKey(t, elliptic.P256()), TermsOfServiceAgreed: true}); err != nil {
		t.Fatal(err)
	}
	if n := ca.Requests(acmetest.EndpointNewNonce); n != 3 {
		t.Errorf("%d newNonce requests, want 3", n)
	}
}

func TestAcceptChallengeConnectionReset(t *testing.T) {
	for _, tc := range []struct {
		name    string
		f       acmetest.Fault
		accepts int // challenge POSTs the CA acted on
		reqs    int // challenge requests in all
	}{
		// The server acted, then the connection died: the client re-reads
		// and does not send the accept again.
		{"after acting", acmetest.DropResponse, 1, 2},
		// The connection died before the server acted: re-read shows
		// pending, so the accept is sent again.
		{"before acting", acmetest.ConnectionReset, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, c, acct := memCA(t, acmetest.CAOptions{})
			// Held, each accept the CA acts on is one held validation, and
			// the challenge stays processing.
			ca.HoldValidations()
			ctx := ctxOf(t)
			o, _ := c.NewOrder(ctx, acct, exampleTest)
			az, _ := c.GetAuthorization(ctx, acct, o.Authorizations[0])
			chal := az.Challenges[0]
			ca.InjectFault(acmetest.EndpointChallenge, 1, acmetest.CAFault{Fault: tc.f})
			got, err := c.AcceptChallenge(ctx, acct, chal)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != acme.StatusProcessing || got.Identifier != chal.Identifier || got.KeyAuthorization != chal.KeyAuthorization {
				t.Errorf("challenge = %+v", got)
			}
			if accepts, reqs := ca.HeldCount(), ca.Requests(acmetest.EndpointChallenge); accepts != tc.accepts || reqs != tc.reqs {
				t.Errorf("accepts %d, challenge requests %d; want %d, %d", accepts, reqs, tc.accepts, tc.reqs)
			}
		})
	}
}

func TestFinalizeResponseLost(t *testing.T) {
	ca, c, acct := memCA(t, acmetest.CAOptions{ProcessingPolls: 1})
	o := readyOrder(t, c, acct)
	ca.InjectFault(acmetest.EndpointFinalize, 1, acmetest.CAFault{Fault: acmetest.DropResponse})
	got, err := c.FinalizeOrder(ctxOf(t), acct, o, csrFor(t, "example.test"))
	if err != nil {
		t.Fatal(err)
	}
	// Processing or valid: the CA acted on the one finalize sent.
	if got.Status != acme.StatusProcessing && got.Status != acme.StatusValid || got.URL != o.URL {
		t.Errorf("order = %+v", got)
	}
	if n := ca.Requests(acmetest.EndpointFinalize); n != 1 {
		t.Errorf("finalize sent %d times, want 1", n)
	}
}

func TestFinalizeGatewayTimeoutAfterActing(t *testing.T) {
	ca, c, acct := memCA(t, acmetest.CAOptions{ProcessingPolls: 5})
	o := readyOrder(t, c, acct)
	gateway := problemAnswer(504, "", "upstream timed out")
	ca.InjectFault(acmetest.EndpointFinalize, 1, acmetest.CAFault{Rewrite: func(a *acmetest.Answer) {
		a.Status, a.Body = gateway.Status, gateway.Body
		a.Header.Set("Content-Type", gateway.Header.Get("Content-Type"))
		a.Header.Del("Location")
	}})
	got, err := c.FinalizeOrder(ctxOf(t), acct, o, csrFor(t, "example.test"))
	if err != nil || got.Status != acme.StatusProcessing {
		t.Fatalf("%v %+v", err, got)
	}
	if n := ca.Requests(acmetest.EndpointFinalize); n != 1 {
		t.Errorf("finalize sent %d times, want 1", n)
	}
}

// TestFinalizeLocation: the order keeps its URL whether the finalize
// answer has a Location (the fake CA sends one) or not (Pebble sends
// none), and a second finalize is refused.
func TestFinalizeLocation(t *testing.T) {
	ca, c, acct := memCA(t, acmetest.CAOptions{})
	o := readyOrder(t, c, acct)
	got, err := c.FinalizeOrder(ctxOf(t), acct, o, csrFor(t, "example.test"))
	if err != nil || got.URL != o.URL {
		t.Fatalf("%v %+v", err, got)
	}
	if _, err := c.FinalizeOrder(ctxOf(t), acct, o, csrFor(t, "example.test")); !isProblem(err, acme.ProblemOrderNotReady) {
		t.Fatalf("second finalize: %v", err)
	}
	o = readyOrder(t, c, acct)
	ca.InjectFault(acmetest.EndpointFinalize, 1, acmetest.CAFault{Rewrite: func(a *acmetest.Answer) { a.Header.Del("Location") }})
	if got, err = c.FinalizeOrder(ctxOf(t), acct, o, csrFor(t, "example.test")); err != nil || got.URL != o.URL {
		t.Fatalf("without Location: %v %+v", err, got)
	}
}

func TestNewOrderSubproblems(t *testing.T) {
	ca, c, acct := memCA(t, acmetest.CAOptions{})
	ca.InjectFault(acmetest.EndpointNewOrder, 1, acmetest.CAFault{Answer: rawAnswer(400, "application/problem+json", `{
		"type": "urn:ietf:params:acme:error:compound",
		"detail": "Error creating new order :: 2 identifiers rejected",
		"status": 400,
		"subproblems": [
			{"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "blocked by policy", "identifier": {"type": "dns", "value": "bad.example.test"}},
			{"type": "urn:ietf:params:acme:error:unsupportedIdentifier", "detail": "no IPs", "identifier": {"type": "ip", "value": "192.0.2.1"}}
		]}`)})
	_, err := c.NewOrder(ctxOf(t), acct, []acme.Identifier{acme.DNSIdentifier("bad.example.test")})
	var p *acme.Problem
	if !errors.As(err, &p) || p.Type != acme.ProblemCompound || len(p.Subproblems) != 2 {
		t.Fatalf("err = %v", err)
	}
	sp := p.Subproblems[0]
	if sp.Identifier == nil || *sp.Identifier != acme.DNSIdentifier("bad.example.test") || sp.Type != acme.ProblemRejectedIdentifier {
		t.Errorf("subproblem = %+v", sp)
	}
	if !acme.IsRejectedIdentifier(err) || acme.IsCAA(err) {
		t.Error("predicates do not see subproblems")
	}
	if !strings.Contains(err.Error(), "bad.example.test") || !strings.Contains(err.Error(), "no IPs") {
		t.Errorf("Error() = %s", err)
	}
}

func TestOversizedBody(t *testing.T) {
	ca, c, acct := memCA(t, acmetest.CAOptions{})
	o, _ := c.NewOrder(ctxOf(t), acct, exampleTest)
	big := `{"status":"pending","x":"` + strings.Repeat("a", acme.MaxJSONBody) + `"}`
	ca.InjectFault(acmetest.EndpointOrder, 1, acmetest.CAFault{Answer: rawAnswer(200, "application/json", big)})
	_, err := c.GetOrder(ctxOf(t), acct, o.URL)
	if !errors.Is(err, acme.ErrBodyTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if n := ca.Requests(acmetest.EndpointOrder); n != 1 {
		t.Errorf("oversized body retried (%d requests)", n)
	}
	ca.InjectFault(acmetest.EndpointCert, 1, acmetest.CAFault{Answer: rawAnswer(200, acme.ContentTypeChain, strings.Repeat("A", acme.MaxChainBody+1))})
	if _, err := c.GetCertificateChains(ctxOf(t), acct, acmetest.MemoryCABase+"/cert/1"); !errors.Is(err, acme.ErrBodyTooLarge) {
		t.Fatalf("chain: %v", err)
	}
}

func TestMalformedJSON(t *testing.T) {
	ca, c, acct := memCA(t, acmetest.CAOptions{})
	ctx := ctxOf(t)
	o, _ := c.NewOrder(ctx, acct, exampleTest)
	for _, body := range []string{`{"status":`, `[1,2]`, `{"status":"valid","expires":"yesterday"}`, `{}`, `null`} {
		ca.InjectFault(acmetest.EndpointOrder, 1, acmetest.CAFault{Answer: rawAnswer(200, "application/json", body)})
		if _, err := c.GetOrder(ctx, acct, o.URL); err == nil || !strings.Contains(err.Error(), "order") {
			t.Errorf("body %q: err = %v", body, err)
		}
	}
	ca.InjectFault(acmetest.EndpointAuthz, 1, acmetest.CAFault{Answer: rawAnswer(200, "application/json", `{"status":"pending","challenges":{}}`)})
	if _, err := c.GetAuthorization(ctx, acct, o.Authorizations[0]); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("authz: %v", err)
	}
}

func TestNonJSONErrorBody(t *testing.T) {
	ca, c, acct := memCA(t, acmetest.CAOptions{})
	o, _ := c.NewOrder(ctxOf(t), acct, exampleTest)
	ca.InjectFault(acmetest.EndpointOrder, 1, acmetest.CAFault{Answer: rawAnswer(404, "text/html", "<h1>"+strings.Repeat("x", 2000)+"</h1>")})
	_, err := c.GetOrder(ctxOf(t), acct, o.URL)
	var p *acme.Problem
	if !errors.As(err, &p) || p.Status != 404 || p.Type != "" || !strings.HasPrefix(p.Detail, "<h1>") || len(p.Detail) > acme.MaxProblemDetail+4 {
		t.Fatalf("problem = %+v", p)
	}
}

func TestRequestHeaders(t *testing.T) {
	ca := acmetest.NewTestMemoryCA(t, acmetest.CAOptions{})
	var got http.Header
	tr := ca.Transport()
	c := &acme.Client{DirectoryURL: ca.DirectoryURL, UserAgent: "certkeeper-cli/0.1", HTTPClient: &http.Client{
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			got = r.Header.Clone()
			return tr.RoundTrip(r)
		}),
	}}
	if _, err := c.Directory(ctxOf(t)); err != nil {
		t.Fatal(err)
	}
	if ua := got.Get("User-Agent"); ua != "certkeeper-acme/1 certkeeper-cli/0.1" {
		t.Errorf("User-Agent = %q", ua)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestConcurrentRequests(t *testing.T) {
	ca, c, acct := memCA(t, acmetest.CAOptions{})
	var mu sync.Mutex
	var transportErrs int
	c.OnRequest = func(ri acme.RequestInfo) {
		if ri.Err != nil {
			mu.Lock()
			transportErrs++
			mu.Unlock()
		}
	}
	ca.InjectFault(acmetest.EndpointNewOrder, 1, acmetest.CAFault{Fault: acmetest.ConnectionReset})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			o, err := c.NewOrder(ctxOf(t), acct, []acme.Identifier{acme.DNSIdentifier(fmt.Sprintf("n%d.example.test", i))})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := c.GetAuthorization(ctxOf(t), acct, o.Authorizations[0]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := ca.Requests(acmetest.EndpointNewOrder); n != 9 || transportErrs != 1 {
		t.Errorf("%d newOrder requests, %d transport errors reported; want 9, 1", n, transportErrs)
	}
}

func TestRevokeResponseLost(t *testing.T) {
	ca, c, acct := memCA(t, acmetest.CAOptions{})
	leaf := issued(t, c, acct)
	ca.InjectFault(acmetest.EndpointRevokeCert, 1, acmetest.CAFault{Fault: acmetest.DropResponse})
	if err := c.RevokeCertificate(ctxOf(t), acct, leaf.Raw, acme.ReasonUnspecified); err != nil {
		t.Fatalf("alreadyRevoked after a lost response should be success: %v", err)
	}
	if n := ca.Requests(acmetest.EndpointRevokeCert); n != 2 {
		t.Errorf("%d revokeCert requests, want 2", n)
	}
	if err := c.RevokeCertificate(ctxOf(t), acct, leaf.Raw, acme.ReasonUnspecified); !isProblem(err, acme.ProblemAlreadyRevoked) {
		t.Errorf("plain second revoke: %v", err)
	}
}

// Concurrent requests on a Client with one nonce pooled and two requests
// at a time ask newNonce no more.
func TestConcurrentRequestsUseAnswersNonces(t *testing.T) {
	ca, c, acct := memCA(t, acmetest.CAOptions{})
	ctx := ctxOf(t)
	heads := ca.Requests(acmetest.EndpointNewNonce)
	sem := make(chan struct{}, 2)
	errs := make(chan error, 10)
	for range 10 {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := c.GetAccount(ctx, acct)
			errs <- err
		}()
	}
	for range 10 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := ca.Requests(acmetest.EndpointNewNonce) - heads; n != 0 {
		t.Errorf("%d newNonce requests for 10 requests two at a time, want 0", n)
	}
}
