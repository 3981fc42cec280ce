package acmetest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/certkeeper/certkeeper/acmetest"
)

// noReuse returns a client of fp that opens a new connection per request,
// so that Go's transport does not silently retry an idempotent request
// whose reused connection was reset.
func noReuse(fp *acmetest.FaultProxy) *http.Client {
	c := fp.HTTPClient()
	c.Transport.(*http.Transport).DisableKeepAlives = true
	return c
}

func do(t *testing.T, c *http.Client, method, url string) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

func TestFaultProxyPebble(t *testing.T) {
	p := acmetest.NewTestPebble(t, acmetest.PebbleOptions{})
	fp := acmetest.NewTestFaultProxy(t, p)
	c := noReuse(fp)
	origin := strings.TrimSuffix(fp.URL, "/dir")

	// Pass-through: the directory names the proxy, not Pebble.
	dir := getDirectory(t, c, fp.URL)
	newNonce, _ := dir["newNonce"].(string)
	if !strings.HasPrefix(newNonce, origin+"/") {
		t.Fatalf("newNonce %q is not behind the proxy %s", newNonce, origin)
	}
	resp, _, err := do(t, c, http.MethodHead, newNonce)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Replay-Nonce") == "" {
		t.Fatalf("HEAD newNonce: %v %v", resp, err)
	}
	if link := resp.Header.Get("Link"); !strings.Contains(link, origin+"/dir") {
		t.Errorf("Link %q does not name the proxy", link)
	}

	// A signed newAccount goes through: Pebble checks the JWS "url"
	// against the Host the proxy forwards.
	loc := newAccount(t, c, dir, resp.Header.Get("Replay-Nonce"))
	if !strings.HasPrefix(loc, origin+"/my-account/") {
		t.Errorf("account Location %q is not behind the proxy", loc)
	}

	cases := []struct {
		rule   acmetest.Rule
		method string
		check  func(t *testing.T, resp *http.Response, body string, err error)
	}{
		{acmetest.Rule{Method: "GET", PathPrefix: "/dir", Fault: acmetest.Status500}, "GET",
			func(t *testing.T, resp *http.Response, body string, err error) {
				if err != nil || resp.StatusCode != 500 || !strings.Contains(body, "serverInternal") {
					t.Errorf("got %v %q %v", resp, body, err)
				}
			}},
		{acmetest.Rule{PathPrefix: "/dir", Fault: acmetest.Status503RetryAfter, RetryAfter: 1500 * time.Millisecond}, "GET",
			func(t *testing.T, resp *http.Response, body string, err error) {
				if err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "2" {
					t.Errorf("got %v %q %v", resp, body, err)
				}
			}},
		{acmetest.Rule{PathPrefix: "/nonce-plz", Fault: acmetest.Status429RetryAfter, ReplayNonce: true}, "HEAD",
			func(t *testing.T, resp *http.Response, body string, err error) {
				if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || resp.Header.Get("Replay-Nonce") == "" {
					t.Errorf("got %v %q %v", resp, body, err)
				}
			}},
		{acmetest.Rule{PathPrefix: "/nonce-plz", Fault: acmetest.Status429RetryAfter}, "HEAD",
			func(t *testing.T, resp *http.Response, body string, err error) {
				if err != nil || resp.StatusCode != 429 || resp.Header.Get("Replay-Nonce") != "" {
					t.Errorf("got %v %q %v", resp, body, err)
				}
			}},
		{acmetest.Rule{PathPrefix: "/nonce-plz", Fault: acmetest.ConnectionReset}, "HEAD",
			func(t *testing.T, resp *http.Response, body string, err error) {
				if err == nil {
					t.Errorf("got %v, want a connection error", resp)
				}
			}},
		{acmetest.Rule{PathPrefix: "/dir", Fault: acmetest.DropResponse}, "GET",
			func(t *testing.T, resp *http.Response, body string, err error) {
				if err == nil {
					t.Errorf("got %v, want a connection error", resp)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.rule.Fault.String(), func(t *testing.T) {
			fp.SetRules(tc.rule)
			url := fp.URL
			if tc.method == "HEAD" {
				url = newNonce
			}
			start := len(fp.Requests())
			resp, body, err := do(t, c, tc.method, url)
			tc.check(t, resp, body, err)
			if s := fp.Stats(); s[0].Matched != 1 || s[0].Injected != 1 {
				t.Errorf("stats %+v", s)
			}
			recs := fp.Requests()[start:]
			if len(recs) != 1 || recs[0].Fault != tc.rule.Fault || recs[0].Rule != 0 {
				t.Fatalf("records %+v", recs)
			}
			switch tc.rule.Fault {
			case acmetest.DropResponse:
				if recs[0].UpstreamStatus != 200 || recs[0].Status != 0 {
					t.Errorf("record %+v: want upstream 200, nothing sent", recs[0])
				}
			case acmetest.ConnectionReset:
				if recs[0].UpstreamStatus != 0 || recs[0].Status != 0 {
					t.Errorf("record %+v: want nothing forwarded or sent", recs[0])
				}
			}
			// Passes through once the rules are gone.
			fp.SetRules()
			if resp, _, err := do(t, c, tc.method, url); err != nil || resp.StatusCode != 200 {
				t.Errorf("after SetRules(): %v %v", resp, err)
			}
		})
	}
}

// newAccount registers an account with a JWS signed by go-jose and returns
// its URL.
func newAccount(t *testing.T, c *http.Client, dir map[string]any, nonce string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	url := dir["newAccount"].(string)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, &jose.SignerOptions{
		EmbedJWK:     true,
		ExtraHeaders: map[jose.HeaderKey]any{"nonce": nonce, "url": url},
	})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(`{"termsOfServiceAgreed":true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Post(url, "application/jose+json", strings.NewReader(jws.FullSerialize()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("newAccount: %s: %s", resp.Status, body)
	}
	return resp.Header.Get("Location")
}

// stubUpstream is an ACME-like server that names itself in absolute URLs
// whatever the Host header says, and counts the requests it handled.
func stubUpstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		switch r.URL.Path {
		case "/directory":
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"newNonce": srv.URL + "/nonce", "newOrder": srv.URL + "/order"})
		case "/nonce":
			w.Header().Set("Replay-Nonce", "stub-nonce")
		case "/order":
			w.Header().Set("Location", srv.URL+"/order/1")
			w.Header().Add("Link", "<"+srv.URL+"/directory>;rel=\"index\"")
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"finalize":"`+srv.URL+`/finalize/1"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestFaultProxyRewritesURLs(t *testing.T) {
	up, _ := stubUpstream(t)
	fp, err := acmetest.NewFaultProxy(up.URL+"/directory", up.Client())
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	origin := strings.TrimSuffix(fp.URL, "/directory")
	c := fp.HTTPClient()

	resp, body, err := do(t, c, http.MethodGet, fp.URL)
	if err != nil || strings.Contains(body, up.URL) || !strings.Contains(body, origin+"/nonce") {
		t.Fatalf("directory %v %q %v", resp, body, err)
	}
	resp, body, err = do(t, c, http.MethodPost, origin+"/order")
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("order %v %v", resp, err)
	}
	if got := resp.Header.Get("Location"); got != origin+"/order/1" {
		t.Errorf("Location %q", got)
	}
	if got := resp.Header.Get("Link"); !strings.Contains(got, origin+"/directory") {
		t.Errorf("Link %q", got)
	}
	if body != `{"finalize":"`+origin+`/finalize/1"}` {
		t.Errorf("body %q", body)
	}
	recs := fp.Requests()
	if last := recs[len(recs)-1]; last.RetryAfterGiven != 3*time.Second || last.Status != 201 || last.UpstreamStatus != 201 {
		t.Errorf("record %+v", last)
	}
}

func TestFaultProxyDropResponseActs(t *testing.T) {
	up, handled := stubUpstream(t)
	fp, err := acmetest.NewFaultProxy(up.URL+"/directory", up.Client())
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	origin := strings.TrimSuffix(fp.URL, "/directory")
	c := noReuse(fp)

	fp.SetRules(acmetest.Rule{Method: "POST", PathPrefix: "/order", Fault: acmetest.ConnectionReset, Nth: 1})
	if _, _, err := do(t, c, http.MethodPost, origin+"/order"); err == nil {
		t.Fatal("ConnectionReset: no error")
	}
	if n := handled.Load(); n != 0 {
		t.Errorf("ConnectionReset: upstream handled %d requests, want 0", n)
	}
	fp.SetRules(acmetest.Rule{Method: "POST", PathPrefix: "/order", Fault: acmetest.DropResponse, Nth: 1})
	if _, _, err := do(t, c, http.MethodPost, origin+"/order"); err == nil {
		t.Fatal("DropResponse: no error")
	}
	if n := handled.Load(); n != 1 {
		t.Errorf("DropResponse: upstream handled %d requests, want 1", n)
	}
	// Nth: 1 faults only the first.
	if resp, _, err := do(t, c, http.MethodPost, origin+"/order"); err != nil || resp.StatusCode != 201 {
		t.Errorf("second request: %v %v", resp, err)
	}
}

func TestFaultProxyNthAndCount(t *testing.T) {
	up, _ := stubUpstream(t)
	fp, err := acmetest.NewFaultProxy(up.URL+"/directory", up.Client())
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	c := fp.HTTPClient()
	fp.SetRules(
		acmetest.Rule{Method: "POST", Fault: acmetest.Status500}, // never matches a GET
		acmetest.Rule{PathPrefix: "/directory", Fault: acmetest.Status500, Nth: 2, Count: 2},
	)
	var got []int
	for range 5 {
		resp, _, err := do(t, c, http.MethodGet, fp.URL)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resp.StatusCode)
	}
	if want := []int{200, 500, 500, 200, 200}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	s := fp.Stats()
	if s[0].Matched != 0 || s[1].Matched != 5 || s[1].Injected != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestFaultProxyProbabilityIsSeeded(t *testing.T) {
	up, _ := stubUpstream(t)
	run := func(seed uint64) []int {
		fp, err := acmetest.NewFaultProxy(up.URL+"/directory", up.Client())
		if err != nil {
			t.Fatal(err)
		}
		defer fp.Close()
		fp.AddRule(acmetest.Rule{Fault: acmetest.Status503RetryAfter, Probability: 0.5, Seed: seed})
		c := fp.HTTPClient()
		var got []int
		for range 40 {
			resp, _, err := do(t, c, http.MethodGet, fp.URL)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, resp.StatusCode)
		}
		if s := fp.Stats(); s[0].Injected < 5 || s[0].Injected > 35 {
			t.Errorf("seed %d: %d of 40 faulted at probability 0.5", seed, s[0].Injected)
		}
		return got
	}
	a, b, other := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different faults:\n%v\n%v", a, b)
	}
	if slices.Equal(a, other) {
		t.Errorf("seeds 7 and 8 gave the same 40 faults")
	}
}

func TestFaultProxyRetryAfterViolations(t *testing.T) {
	up, _ := stubUpstream(t)
	fp, err := acmetest.NewFaultProxy(up.URL+"/directory", up.Client())
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	c := fp.HTTPClient()
	fp.SetRules(acmetest.Rule{PathPrefix: "/directory", Fault: acmetest.Status429RetryAfter, Nth: 1, RetryAfter: time.Hour})
	for range 2 {
		if _, _, err := do(t, c, http.MethodGet, fp.URL); err != nil {
			t.Fatal(err)
		}
	}
	v := fp.RetryAfterViolations()
	if len(v) != 1 || v[0].Path != "/directory" || v[0].Fault != acmetest.NoFault {
		t.Errorf("violations %+v", v)
	}
	if recs := fp.Requests(); recs[0].RetryAfterGiven != time.Hour || recs[0].Status != 429 {
		t.Errorf("record %+v", recs[0])
	}
}

// A response larger than any ACME server sends is not read into memory
// whole: the proxy answers 502 Bad Gateway instead of passing it on.
func TestFaultProxyBoundsUpstreamBody(t *testing.T) {
	big := strings.Repeat("x", 8<<20)
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/directory":
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"newNonce": srv.URL + "/nonce"})
		case "/huge":
			io.WriteString(w, big)
		}
	}))
	t.Cleanup(srv.Close)
	fp, err := acmetest.NewFaultProxy(srv.URL+"/directory", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	resp, body, err := do(t, fp.HTTPClient(), http.MethodGet, strings.TrimSuffix(fp.URL, "/directory")+"/huge")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadGateway || len(body) >= len(big) {
		t.Errorf("8 MiB upstream body: status %d, %d bytes passed on; want 502 Bad Gateway", resp.StatusCode, len(body))
	}
}
