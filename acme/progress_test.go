package acme

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// logLines captures a Logger's records, as JSON objects without time.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the records with message msg at level (e.g. "INFO").
func (l *logLines) lines(t *testing.T, level, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if s == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		if m["level"] == level && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// fakeCA answers a Client's requests in memory, so that the waits can run
// under testing/synctest. handle answers requests other than the
// directory and newNonce; nil means 404.
type fakeCA struct {
	handle func(r *http.Request) (*http.Response, error)
	// dir, if set, answers the directory instead.
	dir func(r *http.Request) (*http.Response, error)
}

const fakeCAURL = "https://ca.test/dir"

func (f *fakeCA) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case r.URL.String() == fakeCAURL && f.dir != nil:
		return f.dir(r)
	case r.URL.String() == fakeCAURL:
		return fakeResponse(r, 200, nil, `{"newNonce":"https://ca.test/nonce","newAccount":"https://ca.test/acct","newOrder":"https://ca.test/order"}`), nil
	case r.URL.Path == "/nonce":
		return fakeResponse(r, 200, nil, ""), nil
	case f.handle != nil:
		return f.handle(r)
	}
	return fakeResponse(r, 404, nil, ""), nil
}

func fakeResponse(r *http.Request, status int, h http.Header, body string) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Replay-Nonce", "bm9uY2U")
	if strings.HasPrefix(body, "{") && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}
}

func fakeClient(f *fakeCA, log *slog.Logger) *Client {
	return &Client{DirectoryURL: fakeCAURL, HTTPClient: &http.Client{Transport: f}, Logger: log}
}

func fakeAccount(t *testing.T) Account {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Account{Key: k, URL: "https://ca.test/acct/1"}
}

// A CA that accepts connections and does not answer: the Client says so
// after a few seconds and every few seconds after, and each retry says
// why, which attempt failed and when the next comes.
func TestProgressSilentCA(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log logLines
		var mu sync.Mutex
		calls := 0
		f := &fakeCA{dir: func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			if n <= 2 {
				select {
				case <-time.After(12 * time.Second):
					return nil, errors.New("net/http: TLS handshake timeout")
				case <-r.Context().Done():
					return nil, r.Context().Err()
				}
			}
			return fakeResponse(r, 200, nil, `{"newNonce":"https://ca.test/nonce","newAccount":"https://ca.test/acct","newOrder":"https://ca.test/order"}`), nil
		}}
		c := fakeClient(f, log.logger())
		c.retrySchedule = []time.Duration{250 * time.Millisecond, 2 * time.Second}
		if _, err := c.Directory(context.Background()); err != nil {
			t.Fatal(err)
		}
		silent := log.lines(t, "INFO", "the CA has not answered yet")
		// Each silent attempt lasts 12 s: lines at 5 and 10 s of each.
		if len(silent) != 4 {
			t.Fatalf("%d lines saying the CA has not answered, want 4:\n%s", len(silent), log.String())
		}
		for i, m := range silent {
			want := []float64{5e9, 10e9}[i%2]
			if m["waited"] != want || m["endpoint"] != "directory" || m["url"] != fakeCAURL {
				t.Errorf("line %d: %v; want waited=%v endpoint=directory url=%s", i, m, time.Duration(want), fakeCAURL)
			}
		}
		retries := log.lines(t, "INFO", "the CA request failed; retrying")
		if len(retries) != 2 {
			t.Fatalf("%d retry lines at Info, want 2:\n%s", len(retries), log.String())
		}
		for i, m := range retries {
			next := []float64{250e6, 2e9}[i]
			if m["attempt"] != float64(i+1) || m["next_in"] != next || m["reason"] != "net/http: TLS handshake timeout" {
				t.Errorf("retry line %d: %v; want attempt=%d next_in=%v and the reason", i, m, i+1, time.Duration(next))
			}
		}
	})
}

// Quick retries do not each get a line: the first does, and those that
// wait a second or more, or come after a quiet while; a Retry-After that
// sets the wait is quoted.
func TestProgressRetriesPaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log logLines
		var mu sync.Mutex
		calls := 0
		f := &fakeCA{dir: func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			switch {
			case n == 4:
				return fakeResponse(r, 429, http.Header{"Retry-After": {"3"}}, `{"type":"urn:ietf:params:acme:error:rateLimited","detail":"slow down"}`), nil
			case n < 12:
				return fakeResponse(r, 503, nil, `{"type":"urn:ietf:params:acme:error:serverInternal","detail":"busy"}`), nil
			}
			return fakeResponse(r, 200, nil, `{"newNonce":"https://ca.test/nonce","newAccount":"https://ca.test/acct","newOrder":"https://ca.test/order"}`), nil
		}}
		c := fakeClient(f, log.logger())
		c.retrySchedule = []time.Duration{500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond,
			500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond,
			500 * time.Millisecond, 500 * time.Millisecond}
		if _, err := c.Directory(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Failures at 0, 0.5, 1, 1.5 (429, Retry-After 3 s), 4.5, 5, …, 8.5;
		// Info: the first, the 3 s wait, then the first 5 s after that
		// (6.5 s, the 9th).
		info := log.lines(t, "INFO", "the CA request failed; retrying")
		debug := log.lines(t, "DEBUG", "the CA request failed; retrying")
		if len(info)+len(debug) != 11 {
			t.Fatalf("%d retry lines, want 11:\n%s", len(info)+len(debug), log.String())
		}
		var attempts []float64
		for _, m := range info {
			attempts = append(attempts, m["attempt"].(float64))
		}
		if len(info) != 3 || attempts[0] != 1 || attempts[1] != 4 || attempts[2] != 9 {
			t.Fatalf("Info retry lines for attempts %v, want [1 4 9]:\n%s", attempts, log.String())
		}
		if info[1]["next_in"] != 3e9 || info[1]["retry_after"] == nil || !strings.Contains(info[1]["reason"].(string), "slow down") {
			t.Errorf("the Retry-After wait: %v; want next_in=3s, retry_after and the CA's detail", info[1])
		}
		if info[0]["retry_after"] != nil {
			t.Errorf("a wait the CA did not set quotes retry_after: %v", info[0])
		}
	})
}

// Polls say what they wait for (the names, with a wildcard's "*."), the
// status, how long so far and until the next poll, and the CA's
// Retry-After, at most once per few seconds; a wait under a second says
// nothing.
func TestProgressPolls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log logLines
		start := time.Now()
		f := &fakeCA{handle: func(r *http.Request) (*http.Response, error) {
			status := "pending"
			if time.Since(start) > 20*time.Second {
				status = "valid"
			}
			switch r.URL.Path {
			case "/order/1":
				return fakeResponse(r, 200, http.Header{"Retry-After": {"3"}},
					`{"status":"`+status+`","identifiers":[{"type":"dns","value":"*.example.com"},{"type":"dns","value":"example.com"}],"authorizations":[],"finalize":"https://ca.test/fin/1"}`), nil
			case "/authz/1":
				return fakeResponse(r, 200, nil, `{"status":"`+status+`","wildcard":true,"identifier":{"type":"dns","value":"example.com"},"challenges":[]}`), nil
			case "/order/2":
				return fakeResponse(r, 200, nil, `{"status":"valid","identifiers":[{"type":"dns","value":"example.org"}],"authorizations":[],"finalize":"https://ca.test/fin/2"}`), nil
			}
			return fakeResponse(r, 404, nil, ""), nil
		}}
		c := fakeClient(f, log.logger())
		acct := fakeAccount(t)
		if _, err := c.WaitOrder(context.Background(), acct, "https://ca.test/order/1"); err != nil {
			t.Fatal(err)
		}
		// Polls every 3 s from 10 ms: lines at the first, then 6, 12, 18 s.
		lines := log.lines(t, "INFO", "waiting for the CA to validate")
		if len(lines) != 4 {
			t.Fatalf("%d poll lines, want 4:\n%s", len(lines), log.String())
		}
		for i, m := range lines {
			waited := []float64{10e6, 6e9, 12e9, 18e9}[i] // rounded
			if m["name"] != "*.example.com, example.com" || m["status"] != "pending" || m["order"] != "https://ca.test/order/1" ||
				m["next_in"] != 3e9 || m["retry_after"] == nil || m["waited"] != waited {
				t.Errorf("line %d: %v; want the names, status pending, next_in=3s, retry_after, waited=%v", i, m, time.Duration(waited))
			}
		}

		var log2 logLines
		c = fakeClient(f, log2.logger())
		start = time.Now()
		if _, err := c.WaitAuthorization(context.Background(), acct, "https://ca.test/authz/1"); err != nil {
			t.Fatal(err)
		}
		lines = log2.lines(t, "INFO", "waiting for the CA to validate")
		if len(lines) < 4 || len(lines) > 5 {
			t.Fatalf("%d authorization poll lines over 20 s, want 4 or 5:\n%s", len(lines), log2.String())
		}
		for i, m := range lines {
			if m["name"] != "*.example.com" || m["authorization"] != "https://ca.test/authz/1" || m["retry_after"] != nil {
				t.Errorf("line %d: %v; want name=*.example.com and no retry_after", i, m)
			}
			if i > 0 && m["waited"].(float64)-lines[i-1]["waited"].(float64) < 5e9 {
				t.Errorf("line %d only %v after the one before", i, time.Duration(m["waited"].(float64)-lines[i-1]["waited"].(float64)))
			}
		}

		// Done at once: nothing said at Info.
		var log3 logLines
		c = fakeClient(f, log3.logger())
		if _, err := c.WaitOrder(context.Background(), acct, "https://ca.test/order/2"); err != nil {
			t.Fatal(err)
		}
		if s := log3.String(); strings.Contains(s, `"level":"INFO"`) {
			t.Errorf("a quick wait logged at Info:\n%s", s)
		}
	})
}

// Errors name a wildcard with its "*.", as the user wrote it, although
// the CA's authorization holds the base name.
func TestWildcardNamedWithStar(t *testing.T) {
	a := Authorization{Identifier: DNSIdentifier("example.com"), Wildcard: true, Status: StatusInvalid,
		Challenges: []Challenge{{Type: ChallengeDNS01, Error: &Problem{Detail: "no TXT record"}}}}
	e := &OrderError{Order: Order{URL: "https://ca.test/order/1"}, Authorizations: []Authorization{a}}
	if got := e.Error(); !strings.Contains(got, `*.example.com dns-01: "no TXT record"`) {
		t.Errorf("OrderError %q: want *.example.com", got)
	}
	if got := authorizationName(Authorization{Identifier: DNSIdentifier("example.com")}); got != "example.com" {
		t.Errorf("authorizationName of a plain name: %q", got)
	}
}

// An invalid order's error quotes the CA's detail once when the order's
// problem repeats a challenge's (as Pebble's does), both when they
// differ, and names the problem's type when it says more than the
// detail.
func TestOrderErrorQuotesOnce(t *testing.T) {
	detail := `Get "http://a.example.test/.well-known/acme-challenge/x": dial tcp 127.0.0.1:80: connect: connection refused`
	a := Authorization{Identifier: DNSIdentifier("a.example.test"), Status: StatusInvalid,
		Challenges: []Challenge{{Type: ChallengeHTTP01, Error: &Problem{Type: ProblemConnection, Detail: detail}}}}
	for _, tc := range []struct {
		name    string
		problem *Problem
		want    string
	}{
		{"the same", &Problem{Type: ProblemConnection, Detail: detail},
			`acme: order https://ca.test/order/1 is invalid: a.example.test http-01 (connection): "` + strings.ReplaceAll(detail, `"`, `\"`) + `"`},
		{"another", &Problem{Type: ProblemUnauthorized, Detail: "authorizations failed"},
			`acme: order https://ca.test/order/1 is invalid: "authorizations failed"; a.example.test http-01 (connection): "` + strings.ReplaceAll(detail, `"`, `\"`) + `"`},
		{"none", nil,
			`acme: order https://ca.test/order/1 is invalid: a.example.test http-01 (connection): "` + strings.ReplaceAll(detail, `"`, `\"`) + `"`},
	} {
		e := &OrderError{Order: Order{URL: "https://ca.test/order/1"}, Problem: tc.problem, Authorizations: []Authorization{a}}
		if got := e.Error(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
