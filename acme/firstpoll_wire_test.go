package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fastCA answers in memory, each challenge answer after 1 ms and each
// order poll at once; the order turns ready at the second poll.
type fastCA struct {
	mu     sync.Mutex
	polls  []time.Time
	answer time.Time
}

func (f *fastCA) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	h := http.Header{"Replay-Nonce": {"bm9uY2U"}, "Content-Type": {"application/json"}}
	body := ""
	switch {
	case strings.HasSuffix(r.URL.Path, "/dir"):
		body = `{"newNonce":"https://ca.example.test/nonce","newAccount":"https://ca.example.test/acct","newOrder":"https://ca.example.test/order"}`
	case strings.HasSuffix(r.URL.Path, "/nonce"):
	case strings.HasSuffix(r.URL.Path, "/chal/1"):
		time.Sleep(time.Millisecond)
		f.mu.Lock()
		f.answer = time.Now()
		f.mu.Unlock()
		body = `{"type":"http-01","url":"https://ca.example.test/chal/1","status":"processing","token":"dG9rZW4"}`
	case strings.HasSuffix(r.URL.Path, "/order/1"):
		f.mu.Lock()
		f.polls = append(f.polls, time.Now())
		status := "pending"
		if len(f.polls) > 1 {
			status = "ready"
		}
		f.mu.Unlock()
		body = `{"status":"` + status + `","identifiers":[{"type":"dns","value":"a.example.test"}],"authorizations":["https://ca.example.test/authz/1"],"finalize":"https://ca.example.test/order/1/finalize"}`
	default:
		return &http.Response{StatusCode: http.StatusNotFound, Header: h, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	}
	return &http.Response{StatusCode: http.StatusOK, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// A CA that answers a challenge in 1 ms is polled 4 ms after the answer,
// not after the schedule's 10 ms; a poll that just misses is followed by
// another after the same 4 ms.
func TestFirstPollAfterFastAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := &fastCA{}
		c := &Client{DirectoryURL: "https://ca.example.test/dir", HTTPClient: &http.Client{Transport: ca}}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		acct := Account{URL: "https://ca.example.test/acct/1", Key: key}
		ctx := context.Background()
		if _, err := c.AcceptChallenge(ctx, acct, Challenge{Type: ChallengeHTTP01, URL: "https://ca.example.test/chal/1", Token: "dG9rZW4"}); err != nil {
			t.Fatal(err)
		}
		o, err := c.WaitOrder(ctx, acct, "https://ca.example.test/order/1")
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != StatusReady {
			t.Fatalf("order %s, want ready", o.Status)
		}
		if len(ca.polls) != 2 {
			t.Fatalf("%d polls, want 2", len(ca.polls))
		}
		if got := ca.polls[0].Sub(ca.answer); got != 4*time.Millisecond {
			t.Errorf("first poll %v after the challenge answer, want 4ms (4 x the 1ms answer)", got)
		}
		if got := ca.polls[1].Sub(ca.polls[0]); got != 4*time.Millisecond {
			t.Errorf("second poll %v after the first, want 4ms again", got)
		}
	})
}
