package acmetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
)

// TestFaultProxyBadNonceAndSlow puts the proxy in front of the fake CA
// (no Pebble needed): BadNonce answers a badNonce problem with a fresh
// nonce without forwarding; Slow forwards after its delay, or not at all
// when the client gives up first.
func TestFaultProxyBadNonceAndSlow(t *testing.T) {
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{})
	fp, err := acmetest.NewFaultProxy(ca.DirectoryURL, ca.HTTPClient())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fp.Close() })
	c := fp.HTTPClient()
	origin := strings.TrimSuffix(fp.URL, "/dir")

	fp.SetRules(acmetest.Rule{Method: http.MethodPost, PathPrefix: "/new-order", Fault: acmetest.BadNonce})
	resp, body, err := do(t, c, http.MethodPost, origin+"/new-order")
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Type string }
	_ = json.Unmarshal([]byte(body), &p)
	if resp.StatusCode != http.StatusBadRequest || p.Type != "urn:ietf:params:acme:error:badNonce" || resp.Header.Get("Replay-Nonce") == "" {
		t.Fatalf("BadNonce answer: %d %q nonce %q", resp.StatusCode, body, resp.Header.Get("Replay-Nonce"))
	}
	if n := ca.Requests(acmetest.EndpointNewOrder); n != 0 {
		t.Errorf("BadNonce forwarded the request (%d at the CA)", n)
	}

	fp.SetRules(acmetest.Rule{PathPrefix: "/dir", Fault: acmetest.Slow, Delay: 100 * time.Millisecond})
	start := time.Now()
	if resp, _, err = do(t, c, http.MethodGet, fp.URL); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Slow directory: %v %v", resp, err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("Slow answered after %v, before its delay", d)
	}
	fp.SetRules(acmetest.Rule{PathPrefix: "/dir", Fault: acmetest.Slow, Delay: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fp.URL, nil)
	before := ca.Requests(acmetest.EndpointDirectory)
	if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Slow past the deadline: %v", err)
	}
	if n := ca.Requests(acmetest.EndpointDirectory); n != before {
		t.Errorf("request abandoned by the client was forwarded")
	}
}
