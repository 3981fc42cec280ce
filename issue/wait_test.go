package issue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
)

// connFailure is the CA's words for a validation that could not connect.
const connFailure = "could not connect to validation target"

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// checkValidationError checks that err reports the CA's words as the
// error types the CLI maps to exit 5 (an *acme.OrderError, reached from a
// *ValidationError) and that it came in time.
func checkValidationError(t *testing.T, err error, took time.Duration, detail string) *ValidationError {
	t.Helper()
	if err == nil {
		t.Fatal("Obtain succeeded, want a validation error")
	}
	if took > 10*time.Second {
		t.Errorf("the failure took %v to report, want seconds", took)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the CA's words, not a deadline", err)
	}
	if !strings.Contains(err.Error(), detail) {
		t.Errorf("error %q does not quote the CA's %q", err, detail)
	}
	var oe *acme.OrderError
	if !errors.As(err, &oe) {
		t.Errorf("error %v is no *acme.OrderError (exit 5 in the CLI)", err)
	}
	var p *acme.Problem
	if !errors.As(err, &p) || p.Detail != detail {
		t.Errorf("error %v carries no *acme.Problem with the CA's detail (got %+v)", err, p)
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve
	}
	return nil
}

// TestValidationFailureLeftOpen: a CA that leaves a failed challenge
// pending (or processing) with an error attached, the order pending with
// it, must not be waited on until the deadline: the failure is reported
// within seconds in the CA's words, for each challenge type, whether the
// CA validates during the answer (as step-ca does) or later.
func TestValidationFailureLeftOpen(t *testing.T) {
	t.Parallel()
	for _, typ := range []acme.ChallengeType{acme.ChallengeHTTP01, acme.ChallengeTLSALPN01, acme.ChallengeDNS01} {
		for _, status := range []acme.Status{acme.StatusPending, acme.StatusProcessing, acme.StatusInvalid} {
			for _, sync := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/sync=%v", typ, status, sync), func(t *testing.T) {
					t.Parallel()
					ca := newTestCA(t, acmetest.CAOptions{FailedChallengeStatus: status})
					if !sync {
						ca.validateLater()
					}
					detail := connFailure + " for " + string(typ)
					for _, n := range []string{"h1.example.test", "h2.example.test"} {
						ca.FailValidations(n, acmetest.Problem(acme.ProblemConnection, detail))
					}
					is, fs := ca.issuer(typ)
					start := time.Now()
					cert, err := is.Obtain(ctxFor(t, 60*time.Second), Request{Identifiers: mustIDs(t, "h1.example.test", "h2.example.test")})
					took := time.Since(start)
					if cert != nil {
						t.Fatal("a certificate was returned")
					}
					checkValidationError(t, err, took, detail)
					// One early finalize at most (FinalizeWhenReady), which
					// the CA refuses: no certificate is fetched.
					if n := ca.count(acmetest.EndpointFinalize); n > 1 {
						t.Errorf("%d finalize requests, want at most 1", n)
					}
					if n := ca.count(acmetest.EndpointCert); n != 0 {
						t.Errorf("%d certificate requests for a failed order", n)
					}
					if p, c := fs.counts(); p != 2 || c != 2 {
						t.Errorf("presented %d, cleaned up %d; want 2, 2", p, c)
					}
				})
			}
		}
	}
}

// TestValidationFailureDefaultTiming runs the same with the real watch
// schedule: the hostile CA's failure is reported in seconds, not at the
// deadline.
func TestValidationFailureDefaultTiming(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, acmetest.CAOptions{FailedChallengeStatus: acme.StatusPending})
	ca.FailValidations("example.test", acmetest.Problem(acme.ProblemConnection, connFailure))
	is, _ := ca.issuer(acme.ChallengeDNS01)
	is.timing = nil
	start := time.Now()
	_, err := is.Obtain(ctxFor(t, 60*time.Second), Request{Identifiers: mustIDs(t, "*.example.test")})
	ve := checkValidationError(t, err, time.Since(start), connFailure)
	if ve == nil || ve.Attempts != 1 || ve.Challenge.Type != acme.ChallengeDNS01 || ve.Challenge.Status != acme.StatusPending {
		t.Errorf("ValidationError %+v, want one attempt of a pending dns-01 challenge", ve)
	}
	if !strings.Contains(err.Error(), `by dns-01 (challenge pending, authorization pending, answered once)`) {
		t.Errorf("error %q does not say what was left in which state", err)
	}
}

// TestChallengeRetries: asked to, the issuer answers a challenge the CA
// left open again, a bounded number of times.
func TestChallengeRetries(t *testing.T) {
	t.Parallel()
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			t.Parallel()
			newCA := func() *testCA {
				ca := newTestCA(t, acmetest.CAOptions{FailedChallengeStatus: acme.StatusPending})
				if !sync {
					ca.validateLater()
				}
				ca.FailNextValidations("retry.example.test", 2, acmetest.Problem(acme.ProblemConnection, connFailure))
				return ca
			}
			ca := newCA()
			is, _ := ca.issuer(acme.ChallengeHTTP01)
			is.ChallengeRetries = 2
			cert, err := is.Obtain(ctxFor(t, 60*time.Second), Request{Identifiers: mustIDs(t, "retry.example.test")})
			if err != nil {
				t.Fatalf("with 2 retries against 2 failures: %v", err)
			}
			if cert.Leaf.DNSNames[0] != "retry.example.test" {
				t.Errorf("leaf names %v", cert.Leaf.DNSNames)
			}
			if n := ca.count(acmetest.EndpointChallenge); n != 3 {
				t.Errorf("challenge answered %d times, want 3", n)
			}

			ca = newCA()
			is, _ = ca.issuer(acme.ChallengeHTTP01)
			is.ChallengeRetries = 1
			start := time.Now()
			_, err = is.Obtain(ctxFor(t, 60*time.Second), Request{Identifiers: mustIDs(t, "retry.example.test")})
			ve := checkValidationError(t, err, time.Since(start), connFailure)
			if ve == nil || ve.Attempts != 2 {
				t.Errorf("ValidationError %+v, want 2 attempts", ve)
			}
			if !strings.Contains(err.Error(), "answered 2 times") {
				t.Errorf("error %q does not count the answers", err)
			}
		})
	}
}

// TestRetryDoesNotReviveInvalid: an invalid challenge is final whatever
// ChallengeRetries says.
func TestRetryDoesNotReviveInvalid(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, acmetest.CAOptions{FailedChallengeStatus: acme.StatusInvalid})
	ca.FailNextValidations("inv.example.test", 1, acmetest.Problem(acme.ProblemConnection, connFailure))
	is, _ := ca.issuer(acme.ChallengeHTTP01)
	is.ChallengeRetries = 3
	start := time.Now()
	_, err := is.Obtain(ctxFor(t, 60*time.Second), Request{Identifiers: mustIDs(t, "inv.example.test")})
	checkValidationError(t, err, time.Since(start), connFailure)
	if n := ca.count(acmetest.EndpointChallenge); n != 1 {
		t.Errorf("%d challenge requests, want 1", n)
	}
}

// TestEarlierErrorIsNotThisFailure: a challenge that carries the error of
// an earlier attempt (a reused pending authorization) is answered, and
// the old error is not taken for the new validation's result.
func TestEarlierErrorIsNotThisFailure(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, acmetest.CAOptions{FailedChallengeStatus: acme.StatusPending, ReusePendingAuthorizations: true})
	ca.FailNextValidations("again.example.test", 1, acmetest.Problem(acme.ProblemConnection, connFailure))
	is, _ := ca.issuer(acme.ChallengeHTTP01)
	var orders []string
	onOrder := func(u string) { orders = append(orders, u) }
	_, err := is.Obtain(ctxFor(t, 60*time.Second), Request{Identifiers: mustIDs(t, "again.example.test"), OnOrder: onOrder})
	checkValidationError(t, err, 0, connFailure) // the earlier attempt
	cert, err := is.Obtain(ctxFor(t, 60*time.Second), Request{Identifiers: mustIDs(t, "again.example.test"), OnOrder: onOrder})
	if err != nil {
		t.Fatal(err)
	}
	// The second order reused the first one's authorization, error and all.
	var authzs []string
	for _, u := range orders {
		o, err := is.Client.GetOrder(ctxFor(t, 10*time.Second), is.Account, u)
		if err != nil {
			t.Fatal(err)
		}
		authzs = append(authzs, o.Authorizations...)
	}
	if len(orders) != 2 || orders[1] != cert.OrderURL || len(authzs) != 2 || authzs[0] != authzs[1] {
		t.Errorf("orders %v with authorizations %v: want two orders sharing the one authorization", orders, authzs)
	}
}

// TestAuthorizationInvalidBeforeAnswer: an authorization the CA holds
// invalid from the start is reported in the CA's words, not as a bare
// status.
func TestAuthorizationInvalidBeforeAnswer(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, acmetest.CAOptions{})
	is, _ := ca.issuer(acme.ChallengeHTTP01)
	ca.FailAuthorizations("caa.example.test", acmetest.Problem(acme.ProblemCAA, "CAA record forbids issuance"))
	_, err := is.Obtain(ctxFor(t, 30*time.Second), Request{Identifiers: mustIDs(t, "caa.example.test")})
	checkValidationError(t, err, 0, "CAA record forbids issuance")
	if n := ca.count(acmetest.EndpointChallenge); n != 0 {
		t.Errorf("%d challenge requests, want 0", n)
	}
}

func mustIDs(t *testing.T, names ...string) []acme.Identifier {
	t.Helper()
	ids, err := ParseIdentifiers(names...)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestDeadlineNamesWhatWasAwaited: a CA that never validates (the
// challenge stays processing without an error: the controller holds it)
// ends at the caller's deadline, and the error says which challenges were
// awaited in what state.
func TestDeadlineNamesWhatWasAwaited(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, acmetest.CAOptions{})
	ca.HoldValidations()
	is, _ := ca.issuer(acme.ChallengeHTTP01)
	_, err := is.Obtain(ctxFor(t, time.Second), Request{Identifiers: mustIDs(t, "slow.example.test")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline", err)
	}
	if want := `waiting for the CA to validate "slow.example.test" by http-01 (challenge processing, authorization pending, answered once)`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

// raceTransport makes issue's watch see a failed authorization while
// the order poll that found the order invalid is still looking at its
// authorizations: the first authorization fetched after an invalid order
// was seen gets no answer.
type raceTransport struct {
	next    http.RoundTripper
	mu      sync.Mutex
	invalid bool // an invalid order was seen
	held    bool // the authorization fetch after it is held
}

func (rt *raceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/authz/") {
		rt.mu.Lock()
		hold := rt.invalid && !rt.held
		rt.held = rt.held || hold
		rt.mu.Unlock()
		if hold {
			// Past the watch's first check (200 ms after the answer),
			// which waits for this answer's nonce: the answer is lost,
			// the watch fetches a nonce of its own and sees the
			// failure while this fetch waits to be retried.
			time.Sleep(300 * time.Millisecond)
			return nil, errors.New("connection reset (test)")
		}
	}
	resp, err := rt.next.RoundTrip(r)
	if err != nil || !strings.Contains(r.URL.Path, "/order/") || strings.Contains(r.URL.Path, "finalize") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if bytes.Contains(body, []byte(`"status":"invalid"`)) {
		rt.mu.Lock()
		rt.invalid = true
		rt.mu.Unlock()
	}
	return resp, nil
}

// TestValidationFailureSeenByBoth: when the order poll finds the order
// invalid but cannot look at its authorizations because the watch, which
// saw the failed one meanwhile, ended the wait, the error is the watch's,
// in the CA's words, not a bare "order is invalid".
func TestValidationFailureSeenByBoth(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, acmetest.CAOptions{FailedChallengeStatus: acme.StatusInvalid})
	ca.validateLater()
	ca.FailValidations("both.example.test", acmetest.Problem(acme.ProblemConnection, connFailure))
	is, _ := ca.issuer(acme.ChallengeHTTP01)
	rt := &raceTransport{next: ca.HTTPClient().Transport}
	is.Client = &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: &http.Client{Transport: rt}}
	start := time.Now()
	_, err := is.Obtain(ctxFor(t, 60*time.Second), Request{Identifiers: mustIDs(t, "both.example.test")})
	rt.mu.Lock()
	held := rt.held
	rt.mu.Unlock()
	if !held {
		t.Fatalf("no authorization fetch was held (error %v): the test does not test the race", err)
	}
	checkValidationError(t, err, time.Since(start), connFailure)
	// The order's own problem quotes the CA too (acmetest's CA copies
	// it there; Pebble does not): the failed authorization must be
	// in the error as well.
	var oe *acme.OrderError
	if errors.As(err, &oe) && len(oe.Authorizations) == 0 {
		t.Errorf("error %q names no failed authorization", err)
	}
}

// TestValidationFailureWhileKeyIsMade: a failure the watch sees while
// the key is still being made (the CSR wait ends with the watch's error
// as its cause) is reported once, as the watch's *ValidationError, not
// wrapped again ("issue: issue: ...").
func TestValidationFailureWhileKeyIsMade(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, acmetest.CAOptions{FailedChallengeStatus: acme.StatusPending})
	ca.validateLater()
	ca.FailValidations("slowkey.example.test", acmetest.Problem(acme.ProblemConnection, connFailure))
	is, _ := ca.issuer(acme.ChallengeHTTP01)
	ctx := ctxFor(t, 60*time.Second)
	order, err := is.Client.NewOrder(ctx, is.Account, mustIDs(t, "slowkey.example.test"))
	if err != nil {
		t.Fatal(err)
	}
	cleanup, answers, err := is.authorize(ctx, order)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	start := time.Now()
	_, err = is.awaitValidation(ctx, order, answers, func(ctx context.Context) ([]byte, error) {
		<-ctx.Done() // as startCSR's wait for a key not made yet
		return nil, context.Cause(ctx)
	})
	checkValidationError(t, err, time.Since(start), connFailure)
	var ve *ValidationError
	if !errors.As(err, &ve) || err != error(ve) {
		t.Errorf("got %q, want the watch's *ValidationError as it is", err)
	}
}

// cancelOnFinalize cancels the order's context as the answer to a
// finalize arrives, as an interrupt or a deadline at that moment does.
type cancelOnFinalize struct {
	next   http.RoundTripper
	cancel context.CancelFunc
	// inFlight: the stop comes while the finalize is sent, which then
	// fails with it, before the CA sees it.
	inFlight bool
}

func (rt *cancelOnFinalize) RoundTrip(r *http.Request) (*http.Response, error) {
	if rt.inFlight && strings.Contains(r.URL.Path, "/finalize/") {
		rt.cancel()
		return nil, r.Context().Err()
	}
	resp, err := rt.next.RoundTrip(r)
	if err != nil || !strings.Contains(r.URL.Path, "/finalize/") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	rt.cancel()
	return resp, nil
}

// TestStoppedAsEarlyFinalizeRefused: an order stopped (interrupt,
// deadline) just as the CA refuses the early finalize as not ready is
// reported as stopped while waiting for the CA to validate, not as a
// refused finalize.
//
// The same holds for a stop while the early finalize is in flight.
func TestStoppedAsEarlyFinalizeRefused(t *testing.T) {
	t.Parallel()
	for _, inFlight := range []bool{false, true} {
		t.Run(fmt.Sprintf("inFlight=%v", inFlight), func(t *testing.T) {
			t.Parallel()
			ca := newTestCA(t, acmetest.CAOptions{})
			ca.HoldValidations()
			is, _ := ca.issuer(acme.ChallengeHTTP01)
			ctx, cancel := context.WithCancel(ctxFor(t, 60*time.Second))
			defer cancel()
			is.Client = &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: &http.Client{Transport: &cancelOnFinalize{next: ca.HTTPClient().Transport, cancel: cancel, inFlight: inFlight}}}
			_, err := is.Obtain(ctx, Request{Identifiers: mustIDs(t, "stopped.example.test")})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want the cancellation", err)
			}
			want := 1 // the one refused
			if inFlight {
				want = 0 // the one stopped before the CA saw it
			}
			if n := ca.count(acmetest.EndpointFinalize); n != want {
				t.Fatalf("%d finalize requests reached the CA, want %d", n, want)
			}
			if want := `issue: waiting for the CA to validate "stopped.example.test" by http-01`; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start %q", err, want)
			}
		})
	}
}
