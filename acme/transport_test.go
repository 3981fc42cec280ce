package acme

import (
	"context"
	"crypto/elliptic"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBadNonceRetry(t *testing.T) {
	s, c, acct := setup(t)
	ctx := testCtx(t)
	heads := s.count("newNonce")
	// The stub answers each badNonce with a fresh nonce; the client must
	// use it rather than ask newNonce.
	s.addFault("newOrder", fault{status: 400, problem: ProblemBadNonce}, fault{status: 400, problem: ProblemBadNonce})
	if _, err := c.NewOrder(ctx, acct, []Identifier{DNSIdentifier("example.org")}); err != nil {
		t.Fatal(err)
	}
	if n := s.count("newOrder"); n != 3 {
		t.Errorf("%d newOrder requests, want 3", n)
	}
	if n := s.count("newNonce") - heads; n != 0 {
		t.Errorf("%d newNonce requests after badNonce, want 0", n)
	}

	// A nonce the stub does not know is a real badNonce from verify.
	c.nonces.put("c3RhbGU")
	if _, err := c.GetAccount(ctx, acct); err != nil {
		t.Fatalf("stale pooled nonce: %v", err)
	}

	// Bounded.
	for range maxBadNonceRetries + 1 {
		s.addFault("account", fault{status: 400, problem: ProblemBadNonce})
	}
	start := time.Now()
	_, err := c.GetAccount(ctx, acct)
	if !IsBadNonce(err) {
		t.Fatalf("after %d badNonce: %v", maxBadNonceRetries+1, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("badNonce retries took %v; they must not sleep", d)
	}
}

func TestRetry503(t *testing.T) {
	s, c, acct := setup(t)
	o, err := c.NewOrder(testCtx(t), acct, []Identifier{DNSIdentifier("example.org")})
	if err != nil {
		t.Fatal(err)
	}
	s.addFault("order", fault{status: 503, body: "<html>down for maintenance</html>", ctype: "text/html"})
	var statuses []int
	c.OnRequest = func(ri RequestInfo) { statuses = append(statuses, ri.Status) }
	if _, err := c.GetOrder(testCtx(t), acct, o.URL); err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 2 || statuses[0] != 503 || statuses[1] != 200 {
		t.Errorf("statuses %v", statuses)
	}
}

func TestRetryAfterDate(t *testing.T) {
	s, c, acct := setup(t)
	o, _ := c.NewOrder(testCtx(t), acct, []Identifier{DNSIdentifier("example.org")})
	ra := time.Now().Add(time.Second).UTC().Truncate(time.Second)
	s.addFault("order", fault{status: 503, problem: ProblemServerInternal, retryAfter: ra.Format(http.TimeFormat)})
	if _, err := c.GetOrder(testCtx(t), acct, o.URL); err != nil {
		t.Fatal(err)
	}
	ts := s.timesOf("order")
	if len(ts) != 2 || ts[1].Before(ra) {
		t.Errorf("retried at %v, before Retry-After %v", ts[len(ts)-1], ra)
	}
}

func TestRateLimitedRetryAfterSeconds(t *testing.T) {
	s, c, acct := setup(t)
	s.addFault("newOrder", fault{status: 429, problem: ProblemRateLimited, retryAfter: "1", detail: "too many orders"})
	if _, err := c.NewOrder(testCtx(t), acct, []Identifier{DNSIdentifier("example.org")}); err != nil {
		t.Fatal(err)
	}
	ts := s.timesOf("newOrder")
	if len(ts) != 2 {
		t.Fatalf("%d requests", len(ts))
	}
	if d := ts[1].Sub(ts[0]); d < time.Second {
		t.Errorf("second request %v after the first, before Retry-After: 1", d)
	}
}

func TestRateLimitedLongRetryAfter(t *testing.T) {
	s, c, acct := setup(t)
	s.addFault("newOrder", fault{status: 429, problem: ProblemRateLimited, retryAfter: "3600", detail: "too many certificates"})
	start := time.Now()
	_, err := c.NewOrder(testCtx(t), acct, []Identifier{DNSIdentifier("example.org")})
	if !IsRateLimited(err) || !IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	ra, ok := RetryAfter(err)
	if !ok || ra.Sub(start) < 59*time.Minute {
		t.Errorf("RetryAfter = %v %v", ra, ok)
	}
	if time.Since(start) > time.Second || s.count("newOrder") != 1 {
		t.Error("waited for an hour-long Retry-After instead of returning it")
	}
	if !strings.Contains(err.Error(), "too many certificates") {
		t.Errorf("error %q lacks the CA's detail", err)
	}
}

func TestRetryStopsAtDeadline(t *testing.T) {
	s, c, acct := setup(t)
	c.retrySchedule = []time.Duration{time.Second, time.Second, time.Second}
	for range 4 {
		s.addFault("newOrder", fault{status: 500, problem: ProblemServerInternal})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.NewOrder(ctx, acct, []Identifier{DNSIdentifier("example.org")})
	if err == nil || !IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("took %v; should give up when the backoff exceeds the deadline", d)
	}
}

// TestRetryNoCount: transient failures are retried for as long as the
// deadline allows, not a fixed number of times (issue 11, point 5: two
// certificates of 600 were lost when six attempts ran out).
func TestRetryNoCount(t *testing.T) {
	s, c, acct := setup(t)
	for range 10 {
		s.addFault("newOrder", fault{status: 502, body: "bad gateway", ctype: "text/plain"})
	}
	if _, err := c.NewOrder(testCtx(t), acct, []Identifier{DNSIdentifier("example.org")}); err != nil {
		t.Fatalf("after 10 transient failures: %v", err)
	}
	if n := s.count("newOrder"); n != 11 {
		t.Errorf("%d attempts, want 11", n)
	}
}

func TestRefusalNotRetried(t *testing.T) {
	s, c, acct := setup(t)
	s.addFault("newOrder", fault{status: 403, problem: ProblemUnauthorized, detail: "no"})
	_, err := c.NewOrder(testCtx(t), acct, []Identifier{DNSIdentifier("example.org")})
	if !IsUnauthorized(err) || IsRetryable(err) || s.count("newOrder") != 1 {
		t.Fatalf("err = %v after %d requests", err, s.count("newOrder"))
	}
}

func TestNewNonceRetried(t *testing.T) {
	s := newStub()
	defer s.Close()
	c := s.client()
	s.addFault("newNonce", fault{status: 503, problem: ProblemServerInternal}, fault{hijack: true})
	if _, err := c.NewAccount(testCtx(t), Account{Key: ecKey(t, elliptic.P256())}); err != nil {
		t.Fatal(err)
	}
	if n := s.count("newNonce"); n != 3 {
		t.Errorf("%d newNonce requests, want 3", n)
	}
}

func TestAcceptChallengeConnectionReset(t *testing.T) {
	for _, tc := range []struct {
		name    string
		f       fault
		accepts int // challenge POSTs the stub processed
		reqs    int // challenge requests in all
	}{
		// The server acted, then the connection died: the client re-reads
		// and does not send the accept again.
		{"after acting", fault{hijackAfter: true}, 1, 2},
		// The connection died before the server acted: re-read shows
		// pending, so the accept is sent again.
		{"before acting", fault{hijack: true}, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, acct := setup(t)
			ctx := testCtx(t)
			o, _ := c.NewOrder(ctx, acct, []Identifier{DNSIdentifier("example.org")})
			az, _ := c.GetAuthorization(ctx, acct, o.Authorizations[0])
			chal := az.Challenges[0]
			s.addFault("challenge", tc.f)
			got, err := c.AcceptChallenge(ctx, acct, chal)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != StatusProcessing || got.Identifier != chal.Identifier || got.KeyAuthorization != chal.KeyAuthorization {
				t.Errorf("challenge = %+v", got)
			}
			if s.accepts != tc.accepts || s.count("challenge") != tc.reqs {
				t.Errorf("accepts %d, challenge requests %d; want %d, %d", s.accepts, s.count("challenge"), tc.accepts, tc.reqs)
			}
		})
	}
}

func TestFinalizeResponseLost(t *testing.T) {
	s, c, acct := setup(t)
	ctx := testCtx(t)
	o := readyOrder(t, c, acct)
	s.processingPolls = 1
	s.addFault("finalize", fault{hijackAfter: true})
	got, err := c.FinalizeOrder(ctx, acct, o, csr(t))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusProcessing && got.Status != StatusValid || got.URL != o.URL {
		t.Errorf("order = %+v", got)
	}
	if s.finalizes != 1 || s.count("finalize") != 1 {
		t.Errorf("finalize processed %d times, sent %d; want 1, 1", s.finalizes, s.count("finalize"))
	}
}

func TestFinalizeGatewayTimeoutAfterActing(t *testing.T) {
	s, c, acct := setup(t)
	o := readyOrder(t, c, acct)
	s.processingPolls = 5
	s.addFault("finalize", fault{hijackAfter: true, status: 504, detail: "upstream timed out"})
	got, err := c.FinalizeOrder(testCtx(t), acct, o, csr(t))
	if err != nil || got.Status != StatusProcessing {
		t.Fatalf("%v %+v", err, got)
	}
	if s.finalizes != 1 || s.count("finalize") != 1 {
		t.Errorf("finalize processed %d times, sent %d; want 1, 1", s.finalizes, s.count("finalize"))
	}
}

func TestFinalizeLocation(t *testing.T) {
	s, c, acct := setup(t)
	o := readyOrder(t, c, acct)
	s.finalizeLocation = true
	got, err := c.FinalizeOrder(testCtx(t), acct, o, csr(t))
	if err != nil || got.URL != o.URL {
		t.Fatalf("%v %+v", err, got)
	}
	if _, err := c.FinalizeOrder(testCtx(t), acct, o, csr(t)); !hasProblem(err, isType(ProblemOrderNotReady)) {
		t.Fatalf("second finalize: %v", err)
	}
}

func readyOrder(t *testing.T, c *Client, acct Account) Order {
	t.Helper()
	ctx := testCtx(t)
	o, err := c.NewOrder(ctx, acct, []Identifier{DNSIdentifier("example.org")})
	if err != nil {
		t.Fatal(err)
	}
	az, _ := c.GetAuthorization(ctx, acct, o.Authorizations[0])
	if _, err := c.AcceptChallenge(ctx, acct, az.Challenges[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitAuthorization(ctx, acct, az.URL); err != nil {
		t.Fatal(err)
	}
	o, err = c.WaitOrder(ctx, acct, o.URL)
	if err != nil || o.Status != StatusReady {
		t.Fatalf("%v %+v", err, o)
	}
	return o
}

func TestNewOrderSubproblems(t *testing.T) {
	s, c, acct := setup(t)
	s.addFault("newOrder", fault{status: 400, ctype: "application/problem+json", body: `{
		"type": "urn:ietf:params:acme:error:compound",
		"detail": "Error creating new order :: 2 identifiers rejected",
		"status": 400,
		"subproblems": [
			{"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "blocked by policy", "identifier": {"type": "dns", "value": "bad.example"}},
			{"type": "urn:ietf:params:acme:error:unsupportedIdentifier", "detail": "no IPs", "identifier": {"type": "ip", "value": "192.0.2.1"}}
		]}`})
	_, err := c.NewOrder(testCtx(t), acct, []Identifier{DNSIdentifier("bad.example")})
	var p *Problem
	if !errors.As(err, &p) || p.Type != ProblemCompound || len(p.Subproblems) != 2 {
		t.Fatalf("err = %v", err)
	}
	sp := p.Subproblems[0]
	if sp.Identifier == nil || *sp.Identifier != DNSIdentifier("bad.example") || sp.Type != ProblemRejectedIdentifier {
		t.Errorf("subproblem = %+v", sp)
	}
	if !IsRejectedIdentifier(err) || IsCAA(err) {
		t.Error("predicates do not see subproblems")
	}
	if !strings.Contains(err.Error(), "bad.example") || !strings.Contains(err.Error(), "no IPs") {
		t.Errorf("Error() = %s", err)
	}
}

func TestOversizedBody(t *testing.T) {
	s, c, acct := setup(t)
	o, _ := c.NewOrder(testCtx(t), acct, []Identifier{DNSIdentifier("example.org")})
	big := `{"status":"pending","x":"` + strings.Repeat("a", maxJSONBody) + `"}`
	s.addFault("order", fault{status: 200, body: big})
	_, err := c.GetOrder(testCtx(t), acct, o.URL)
	if !errors.Is(err, errBodyTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if n := s.count("order"); n != 1 {
		t.Errorf("oversized body retried (%d requests)", n)
	}
	s.addFault("cert", fault{status: 200, ctype: contentTypeChain, body: strings.Repeat("A", maxChainBody+1)})
	if _, err := c.GetCertificateChains(testCtx(t), acct, s.url("/cert/1")); !errors.Is(err, errBodyTooLarge) {
		t.Fatalf("chain: %v", err)
	}
}

func TestMalformedJSON(t *testing.T) {
	s, c, acct := setup(t)
	ctx := testCtx(t)
	o, _ := c.NewOrder(ctx, acct, []Identifier{DNSIdentifier("example.org")})
	for _, body := range []string{`{"status":`, `[1,2]`, `{"status":"valid","expires":"yesterday"}`, `{}`, `null`} {
		s.addFault("order", fault{status: 200, body: body})
		if _, err := c.GetOrder(ctx, acct, o.URL); err == nil || !strings.Contains(err.Error(), "order") {
			t.Errorf("body %q: err = %v", body, err)
		}
	}
	s.addFault("authz", fault{status: 200, body: `{"status":"pending","challenges":{}}`})
	if _, err := c.GetAuthorization(ctx, acct, o.Authorizations[0]); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("authz: %v", err)
	}
}

func TestNonJSONErrorBody(t *testing.T) {
	s, c, acct := setup(t)
	o, _ := c.NewOrder(testCtx(t), acct, []Identifier{DNSIdentifier("example.org")})
	s.addFault("order", fault{status: 404, ctype: "text/html", body: "<h1>" + strings.Repeat("x", 2000) + "</h1>"})
	_, err := c.GetOrder(testCtx(t), acct, o.URL)
	var p *Problem
	if !errors.As(err, &p) || p.Status != 404 || p.Type != "" || !strings.HasPrefix(p.Detail, "<h1>") || len(p.Detail) > maxProblemDetail+4 {
		t.Fatalf("problem = %+v", p)
	}
}

func TestRequestHeaders(t *testing.T) {
	s := newStub()
	defer s.Close()
	var got http.Header
	c := &Client{DirectoryURL: s.url("/dir"), UserAgent: "certkeeper-cli/0.1", HTTPClient: &http.Client{
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			got = r.Header.Clone()
			return http.DefaultTransport.RoundTrip(r)
		}),
	}}
	if _, err := c.Directory(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if ua := got.Get("User-Agent"); ua != "certkeeper-acme/1 certkeeper-cli/0.1" {
		t.Errorf("User-Agent = %q", ua)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestConcurrentRequests(t *testing.T) {
	s, c, acct := setup(t)
	var mu sync.Mutex
	var transportErrs int
	c.OnRequest = func(ri RequestInfo) {
		if ri.Err != nil {
			mu.Lock()
			transportErrs++
			mu.Unlock()
		}
	}
	s.addFault("newOrder", fault{hijack: true})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			o, err := c.NewOrder(testCtx(t), acct, []Identifier{DNSIdentifier(fmt.Sprintf("n%d.example", i))})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := c.GetAuthorization(testCtx(t), acct, o.Authorizations[0]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if s.count("newOrder") != 9 || transportErrs != 1 {
		t.Errorf("%d newOrder requests, %d transport errors reported; want 9, 1", s.count("newOrder"), transportErrs)
	}
}

func TestEmptyTimestamps(t *testing.T) {
	o, err := parseOrder([]byte(`{"status":"pending","expires":"","notBefore":null}`), "u")
	if err != nil || !o.Expires.IsZero() {
		t.Fatalf("%v %+v", err, o)
	}
}

func TestRevokeResponseLost(t *testing.T) {
	s, c, acct := setup(t)
	chain, _ := parseChain(s.chainPEM)
	s.addFault("revokeCert", fault{hijackAfter: true})
	if err := c.RevokeCertificate(testCtx(t), acct, chain[0].Raw, ReasonUnspecified); err != nil {
		t.Fatalf("alreadyRevoked after a lost response should be success: %v", err)
	}
	if n := s.count("revokeCert"); n != 2 {
		t.Errorf("%d revokeCert requests, want 2", n)
	}
	if err := c.RevokeCertificate(testCtx(t), acct, chain[0].Raw, ReasonUnspecified); !hasProblem(err, isType(ProblemAlreadyRevoked)) {
		t.Errorf("plain second revoke: %v", err)
	}
}
