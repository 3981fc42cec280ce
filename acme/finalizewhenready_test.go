package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// readyCA answers in memory: each challenge answer after 1 ms; its one
// order turns ready at the readyAt-th look (a poll or a finalize,
// 1-based) or ends invalid there when invalid is set, and finalize
// issues at once (the order comes back valid). A finalize of an order
// that is not ready is answered with notReady's type (orderNotReady
// unless set), 403.
type readyCA struct {
	readyAt  int
	invalid  bool
	notReady ProblemType
	refuse   ProblemType // finalize of a ready order answered with this problem, if set
	// authzValid: the authorization is valid (an order that ends invalid
	// then failed for another reason); else it failed.
	authzValid bool
	// pollProblem, if set, answers every order poll (403).
	pollProblem ProblemType
	// taken: every finalize is refused (notReady's type), and the order
	// is valid from the first poll on, as if another attempt at the same
	// order had finalized it.
	taken bool
	// notReadyAfter, if set, is the Retry-After header (seconds) of the
	// refusal of a finalize of an order that is not ready.
	notReadyAfter string
	// onAuthz, if set, is called as an authorization is fetched, before
	// the answer (which fails if the request's context is done by then).
	onAuthz func()

	mu    sync.Mutex
	looks int
	log   []string // "finalize 200", "order pending", ...
	at    []time.Time
}

const readyOrderURL = "https://ca.example.test/order/1"

func (f *readyCA) status() string {
	switch {
	case f.looks < f.readyAt:
		return "pending"
	case f.invalid:
		return "invalid"
	}
	return "ready"
}

func (f *readyCA) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	h := http.Header{"Replay-Nonce": {"bm9uY2U"}, "Content-Type": {"application/json"}}
	code, body := http.StatusOK, ""
	order := func(status string) string {
		s := `{"status":"` + status + `","identifiers":[{"type":"dns","value":"a.example.test"}],"authorizations":["https://ca.example.test/authz/1"],"finalize":"https://ca.example.test/order/1/finalize"`
		if status == "valid" {
			s += `,"certificate":"https://ca.example.test/cert/1"`
		}
		return s + "}"
	}
	problem := func(t ProblemType) {
		code, body = http.StatusForbidden, `{"type":"`+string(t)+`","detail":"order is not ready"}`
		h.Set("Content-Type", "application/problem+json")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	note := func(s string) { f.log = append(f.log, s); f.at = append(f.at, time.Now()) }
	if strings.HasSuffix(r.URL.Path, "/authz/1") && f.onAuthz != nil {
		f.onAuthz()
		if err := r.Context().Err(); err != nil {
			return nil, err
		}
	}
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/dir"):
		body = `{"newNonce":"https://ca.example.test/nonce","newAccount":"https://ca.example.test/acct","newOrder":"https://ca.example.test/order"}`
	case strings.HasSuffix(p, "/nonce"):
	case strings.HasSuffix(p, "/chal/1"):
		f.mu.Unlock()
		time.Sleep(time.Millisecond)
		f.mu.Lock()
		note("challenge")
		body = `{"type":"http-01","url":"https://ca.example.test/chal/1","status":"processing","token":"dG9rZW4"}`
	case strings.HasSuffix(p, "/order/1/finalize"):
		f.looks++
		switch st := f.status(); {
		case st != "ready" || f.taken:
			t := f.notReady
			if t == "" {
				t = ProblemOrderNotReady
			}
			problem(t)
			if f.notReadyAfter != "" {
				h.Set("Retry-After", f.notReadyAfter)
			}
			note("finalize " + string(t))
		case f.refuse != "":
			problem(f.refuse)
			note("finalize " + string(f.refuse))
		default:
			body = order("valid")
			note("finalize valid")
		}
		if code == http.StatusOK {
			h.Set("Location", readyOrderURL)
		}
	case strings.HasSuffix(p, "/order/1") && f.pollProblem != "":
		problem(f.pollProblem)
		note("order " + string(f.pollProblem))
	case strings.HasSuffix(p, "/order/1") && f.taken:
		body = order("valid")
		note("order valid")
	case strings.HasSuffix(p, "/order/1"):
		f.looks++
		body = order(f.status())
		note("order " + f.status())
	case strings.HasSuffix(p, "/authz/1") && f.authzValid:
		body = `{"status":"valid","identifier":{"type":"dns","value":"a.example.test"},"challenges":[{"type":"http-01","url":"https://ca.example.test/chal/1","status":"valid","token":"dG9rZW4"}]}`
	case strings.HasSuffix(p, "/authz/1"):
		body = `{"status":"invalid","identifier":{"type":"dns","value":"a.example.test"},"challenges":[{"type":"http-01","url":"https://ca.example.test/chal/1","status":"invalid","token":"dG9rZW4","error":{"type":"urn:ietf:params:acme:error:connection","detail":"refused"}}]}`
	default:
		code = http.StatusNotFound
	}
	return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// finalizeAfterAnswer answers the challenge and calls FinalizeWhenReady
// on the pending order, at most twice on the same Client (orders 1 and
// 2 are the same order of ca, looked at afresh).
func finalizeAfterAnswer(t *testing.T, c *Client, ca *readyCA) (Order, error) {
	t.Helper()
	return finalizeAfterAnswerCtx(t, context.Background(), c, ca)
}

// finalizeAfterAnswerCtx is finalizeAfterAnswer with ctx for
// FinalizeWhenReady.
func finalizeAfterAnswerCtx(t *testing.T, ctx context.Context, c *Client, ca *readyCA) (Order, error) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	acct := Account{URL: "https://ca.example.test/acct/1", Key: key}
	if _, err := c.AcceptChallenge(context.Background(), acct, Challenge{Type: ChallengeHTTP01, URL: "https://ca.example.test/chal/1", Token: "dG9rZW4"}); err != nil {
		t.Fatal(err)
	}
	pending := Order{URL: readyOrderURL, Status: StatusPending, FinalizeURL: readyOrderURL + "/finalize",
		Identifiers: []Identifier{DNSIdentifier("a.example.test")}, Authorizations: []string{"https://ca.example.test/authz/1"}}
	calls := 0
	o, err := c.FinalizeWhenReady(ctx, acct, pending, func(context.Context) ([]byte, error) {
		calls++
		return []byte{0x30, 0x00}, nil
	})
	if calls > 1 {
		t.Errorf("csr called %d times", calls)
	}
	return o, err
}

func newReadyClient(ca *readyCA) *Client {
	return &Client{DirectoryURL: "https://ca.example.test/dir", HTTPClient: &http.Client{Transport: ca}}
}

func sameLog(t *testing.T, ca *readyCA, want ...string) {
	t.Helper()
	got := ca.log
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("requests after the directory:\n got %q\nwant %q", got, want)
	}
}

// An order the CA validated in time is finalized in place of the first
// poll, 4 ms (4 x the 1 ms challenge answer) after the answer: one
// request less than WaitOrder and FinalizeOrder.
func TestFinalizeWhenReadyEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := &readyCA{readyAt: 1}
		o, err := finalizeAfterAnswer(t, newReadyClient(ca), ca)
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != StatusValid || o.URL != readyOrderURL {
			t.Errorf("order %s at %q, want valid at %q", o.Status, o.URL, readyOrderURL)
		}
		sameLog(t, ca, "challenge", "finalize valid")
		if got := ca.at[1].Sub(ca.at[0]); got != 4*time.Millisecond {
			t.Errorf("finalize %v after the challenge answer, want 4ms", got)
		}
	})
}

// An order not validated yet costs one refused finalize; the order is
// then polled after the same estimate and finalized once ready.
func TestFinalizeWhenReadyNotReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := &readyCA{readyAt: 3}
		c := newReadyClient(ca)
		var logs logLines
		c.Logger = logs.logger()
		o, err := finalizeAfterAnswer(t, c, ca)
		if err != nil {
			t.Fatal(err)
		}
		// The 403 of the request log is explained at the same level,
		// and nothing more is said.
		if got := logs.lines(t, "DEBUG", notReadyMsg); len(got) != 1 || got[0]["order"] != readyOrderURL {
			t.Errorf("debug lines %q: want one that says the early finalize was refused as not ready", got)
		}
		for _, level := range []string{"INFO", "WARN", "ERROR"} {
			if strings.Contains(logs.String(), `"level":"`+level+`"`) {
				t.Errorf("a %s line for an early finalize refused as not ready:\n%s", level, logs.String())
			}
		}
		if o.Status != StatusValid {
			t.Errorf("order %s, want valid", o.Status)
		}
		sameLog(t, ca, "challenge", "finalize "+string(ProblemOrderNotReady), "order pending", "order ready", "finalize valid")
		if got := ca.at[2].Sub(ca.at[1]); got != 4*time.Millisecond {
			t.Errorf("first poll %v after the refused finalize, want the same 4ms", got)
		}
	})
}

// A refusal's Retry-After is honoured: the order is polled no sooner
// (RFC 8555 §8.2's Retry-After on an answer about the order), and the
// wait it imposed is not learned as the CA's validation time.
func TestFinalizeWhenReadyNotReadyRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := &readyCA{readyAt: 3, notReadyAfter: "2"}
		c := newReadyClient(ca)
		o, err := finalizeAfterAnswer(t, c, ca)
		if err != nil || o.Status != StatusValid {
			t.Fatalf("got %s, %v; want valid", o.Status, err)
		}
		sameLog(t, ca, "challenge", "finalize "+string(ProblemOrderNotReady), "order pending", "order ready", "finalize valid")
		if got := ca.at[2].Sub(ca.at[1]); got < 2*time.Second {
			t.Errorf("first poll %v after the refused finalize, want the refusal's Retry-After of 2s", got)
		}
		if got := c.firstPoll(stepValidation); got > 10*time.Millisecond {
			t.Errorf("validation estimate %v after a wait the CA imposed, want at most the 10ms floor", got)
		}
	})
}

// An order that ends invalid comes back with an *OrderError after one
// refused finalize, and is not finalized again.
func TestFinalizeWhenReadyInvalid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := &readyCA{readyAt: 2, invalid: true}
		c := newReadyClient(ca)
		o, err := finalizeAfterAnswer(t, c, ca)
		var oe *OrderError
		if !errors.As(err, &oe) || o.Status != StatusInvalid {
			t.Fatalf("got %s, %v; want invalid with an *OrderError", o.Status, err)
		}
		if !strings.Contains(err.Error(), "refused") {
			t.Errorf("error %q does not quote the challenge's error", err)
		}
		sameLog(t, ca, "challenge", "finalize "+string(ProblemOrderNotReady), "order invalid")
		if c.noEarlyFinalize.Load() {
			t.Error("an order whose authorization failed turned early finalizes off")
		}
	})
}

// A CA that refuses a pending order's finalize with another problem than
// orderNotReady is looked at: the order still pending, this Client stops
// finalizing early, and its next order is polled until ready first.
func TestFinalizeWhenReadyOtherRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := &readyCA{readyAt: 4, notReady: ProblemUnauthorized}
		c := newReadyClient(ca)
		o, err := finalizeAfterAnswer(t, c, ca)
		if err != nil || o.Status != StatusValid {
			t.Fatalf("got %s, %v; want valid", o.Status, err)
		}
		sameLog(t, ca, "challenge", "finalize "+string(ProblemUnauthorized), "order pending", "order pending", "order ready", "finalize valid")

		ca.log, ca.at, ca.looks = nil, nil, 0
		ca.readyAt = 1
		if o, err = finalizeAfterAnswer(t, c, ca); err != nil || o.Status != StatusValid {
			t.Fatalf("second order: %s, %v; want valid", o.Status, err)
		}
		sameLog(t, ca, "challenge", "order ready", "finalize valid")
	})
}

// A refusal of the CSR itself is returned as it is, once the order is
// seen ready, and is not taken for "not ready".
func TestFinalizeWhenReadyCSRRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := &readyCA{readyAt: 1, refuse: ProblemBadCSR}
		c := newReadyClient(ca)
		_, err := finalizeAfterAnswer(t, c, ca)
		if !hasProblem(err, isType(ProblemBadCSR)) || !errors.Is(err, ErrFinalize) {
			t.Fatalf("got %v, want the badCSR problem, as ErrFinalize", err)
		}
		sameLog(t, ca, "challenge", "finalize "+string(ProblemBadCSR))
		if c.noEarlyFinalize.Load() {
			t.Error("a refused CSR turned early finalizes off")
		}
	})
}

// A refusal that may mean "not ready", for an order that ended invalid
// meanwhile, gives the order's *OrderError, not the refusal.
func TestFinalizeWhenReadyOtherRefusalInvalid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := &readyCA{readyAt: 2, invalid: true, notReady: ProblemUnauthorized}
		o, err := finalizeAfterAnswer(t, newReadyClient(ca), ca)
		var oe *OrderError
		if !errors.As(err, &oe) || o.Status != StatusInvalid {
			t.Fatalf("got %s, %v; want invalid with an *OrderError", o.Status, err)
		}
		sameLog(t, ca, "challenge", "finalize "+string(ProblemUnauthorized), "order invalid")
	})
}

// An order that ends invalid after a refused early finalize, with no
// authorization failed, may have been ended by that finalize (as CAs
// did before orderNotReady): the Client's next order is polled until
// ready before it is finalized.
func TestFinalizeWhenReadyInvalidWithoutFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := &readyCA{readyAt: 2, invalid: true, authzValid: true}
		c := newReadyClient(ca)
		var oe *OrderError
		if _, err := finalizeAfterAnswer(t, c, ca); !errors.As(err, &oe) || len(oe.Authorizations) != 0 {
			t.Fatalf("got %v, want an *OrderError with no failed authorization", err)
		}
		if !c.noEarlyFinalize.Load() {
			t.Fatal("early finalizes still on")
		}
		ca.log, ca.at, ca.looks = nil, nil, 0
		ca.readyAt, ca.invalid = 1, false
		if o, err := finalizeAfterAnswer(t, c, ca); err != nil || o.Status != StatusValid {
			t.Fatalf("second order: %s, %v; want valid", o.Status, err)
		}
		sameLog(t, ca, "challenge", "order ready", "finalize valid")
	})
}

// An order found invalid as the caller gives up (its context cancelled,
// as issue's watch of the authorizations does when it sees the failure
// first) is not taken for one ended by the early finalize: its
// authorizations could not be looked at, and early finalizes stay on.
func TestFinalizeWhenReadyInvalidCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ca := &readyCA{readyAt: 2, invalid: true, onAuthz: cancel}
		c := newReadyClient(ca)
		if _, err := finalizeAfterAnswerCtx(t, ctx, c, ca); err == nil {
			t.Fatal("no error")
		}
		sameLog(t, ca, "challenge", "finalize "+string(ProblemOrderNotReady), "order invalid")
		if c.noEarlyFinalize.Load() {
			t.Error("an order whose authorizations could not be looked at turned early finalizes off")
		}
	})
}

// A refusal of an order poll after the early finalize was refused as not
// ready is the poll's, not the finalize's: it does not wrap ErrFinalize.
func TestFinalizeWhenReadyPollRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := &readyCA{readyAt: 3, pollProblem: ProblemUnauthorized}
		_, err := finalizeAfterAnswer(t, newReadyClient(ca), ca)
		if !hasProblem(err, isType(ProblemUnauthorized)) || errors.Is(err, ErrFinalize) {
			t.Fatalf("got %v, want the poll's unauthorized problem, not ErrFinalize", err)
		}
		sameLog(t, ca, "challenge", "finalize "+string(ProblemOrderNotReady), "order "+string(ProblemUnauthorized))
	})
}

// An order found finalized (valid) after a refusal that may mean "not
// ready" was finalized by another attempt at it: it is returned as it
// is, for the caller to check its certificate against the key, and not
// finalized again.
func TestFinalizeWhenReadyTakenMeanwhile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := &readyCA{readyAt: 1, taken: true, notReady: ProblemUnauthorized}
		o, err := finalizeAfterAnswer(t, newReadyClient(ca), ca)
		if err != nil || o.Status != StatusValid || o.CertificateURL == "" {
			t.Fatalf("got %s (certificate %q), %v; want the valid order", o.Status, o.CertificateURL, err)
		}
		sameLog(t, ca, "challenge", "finalize "+string(ProblemUnauthorized), "order valid")
	})
}
