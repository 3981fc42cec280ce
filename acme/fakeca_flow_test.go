package acme_test

import (
	"bytes"
	"crypto/elliptic"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
)

func TestDirectory(t *testing.T) {
	ca := acmetest.NewTestMemoryCA(t, acmetest.CAOptions{
		EAB: map[string][]byte{"kid-1": []byte("k")},
		Tamper: func(endpoint acmetest.Endpoint, doc map[string]any) {
			if endpoint != acmetest.EndpointDirectory {
				return
			}
			doc["revokeCert"] = "/revoke" // relative on purpose
			meta := doc["meta"].(map[string]any)
			meta["termsOfService"] = "https://example.test/tos"
			meta["caaIdentities"] = []string{"example.test", "example.net"}
			meta["profiles"] = map[string]string{"classic": "the usual", "shortlived": "6 days"}
		},
	})
	c := memClient(ca)
	var mu sync.Mutex
	var infos []acme.RequestInfo
	c.OnRequest = func(ri acme.RequestInfo) { mu.Lock(); infos = append(infos, ri); mu.Unlock() }
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := c.Directory(ctxOf(t)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	d, err := c.Directory(ctxOf(t))
	if err != nil {
		t.Fatal(err)
	}
	if n := ca.Requests(acmetest.EndpointDirectory); n != 1 {
		t.Errorf("directory fetched %d times, want 1 (cached)", n)
	}
	if d.RevokeCert != acmetest.MemoryCABase+"/revoke" {
		t.Errorf("relative revokeCert not resolved: %q", d.RevokeCert)
	}
	if d.RenewalInfo != acmetest.MemoryCABase+"/renewal-info/" || d.KeyChange == "" || d.NewNonce == "" {
		t.Errorf("directory = %+v", d)
	}
	m := d.Meta
	if !m.ExternalAccountRequired || m.TermsOfService != "https://example.test/tos" || m.Website == "" ||
		len(m.CAAIdentities) != 2 || m.Profiles["shortlived"] != "6 days" || len(m.Profiles) != 2 {
		t.Errorf("meta = %+v", m)
	}
	if len(infos) != 1 || infos[0].Endpoint != "directory" || infos[0].Status != 200 || infos[0].Method != "GET" {
		t.Errorf("OnRequest got %+v", infos)
	}
}

func TestExternalAccountBinding(t *testing.T) {
	macKey := []byte("a secret MAC key of 32 bytes....")
	ca := acmetest.NewTestMemoryCA(t, acmetest.CAOptions{EAB: map[string][]byte{"kid-1": macKey}})
	// The binding as sent, read off the wire: the newAccount JWS's payload.
	var lastEAB []byte
	tr := ca.Transport()
	c := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == "/new-acct" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var payload struct {
				EAB json.RawMessage `json:"externalAccountBinding"`
			}
			if p, err := jose.ParseSigned(string(body), []jose.SignatureAlgorithm{jose.ES256}); err == nil {
				json.Unmarshal(p.UnsafePayloadWithoutVerification(), &payload)
			}
			lastEAB = payload.EAB
		}
		return tr.RoundTrip(r)
	})}}
	key := newKey(t, elliptic.P256())
	if _, err := c.NewAccount(ctxOf(t), acme.Account{Key: key, TermsOfServiceAgreed: true}); !isProblem(err, acme.ProblemExternalAccountRequired) {
		t.Fatalf("without EAB: %v", err)
	}
	acct, err := c.NewAccount(ctxOf(t), acme.Account{Key: key, TermsOfServiceAgreed: true}, acme.WithExternalAccountBinding("kid-1", macKey))
	if err != nil {
		t.Fatal(err)
	}
	// Check the binding independently of the CA.
	eab, err := jose.ParseSigned(string(lastEAB), []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := eab.Verify(macKey)
	if err != nil {
		t.Fatalf("EAB does not verify with the MAC key: %v", err)
	}
	h := eab.Signatures[0].Protected
	if h.Algorithm != "HS256" || h.KeyID != "kid-1" || h.ExtraHeaders["url"] != acmetest.MemoryCABase+"/new-acct" || h.Nonce != "" || h.JSONWebKey != nil {
		t.Errorf("EAB header = %+v", h)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(payload); err != nil {
		t.Fatal(err)
	}
	if tp, _ := acme.Thumbprint(key.Public()); mustThumb(t, jwk.Key) != tp {
		t.Error("EAB payload is not the account key")
	}
	if _, err := eab.Verify([]byte("wrong key")); err == nil {
		t.Error("EAB verifies with the wrong key")
	}
	if acct.URL == "" {
		t.Error("no account URL")
	}
}

func mustThumb(t *testing.T, pub any) string {
	t.Helper()
	tp, err := acme.Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// TestWaitAuthorizationRetryAfter: an authorization still pending with
// Retry-After: 1 is polled again no sooner than a second later.
func TestWaitAuthorizationRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, c, acct := memCA(t, acmetest.CAOptions{RetryAfter: time.Second})
		ctx := ctxOf(t)
		ca.HoldValidations()
		o, _ := c.NewOrder(ctx, acct, exampleTest)
		az, _ := c.GetAuthorization(ctx, acct, o.Authorizations[0])
		if _, err := c.AcceptChallenge(ctx, acct, az.Challenges[0]); err != nil {
			t.Fatal(err)
		}
		held, err := ca.NextHeld(ctx)
		if err != nil {
			t.Fatal(err)
		}
		times := requestTimes(c)
		done := make(chan struct{})
		go func() {
			defer close(done)
			az, err := c.WaitAuthorization(ctx, acct, o.Authorizations[0])
			if err != nil || az.Status != acme.StatusValid {
				t.Errorf("%v %+v", err, az)
			}
		}()
		// Decide the validation once the first poll found it pending.
		for len(times("authz")) == 0 {
			time.Sleep(time.Millisecond)
		}
		held.Approve()
		<-done
		ts := times("authz")
		if len(ts) != 2 {
			t.Fatalf("%d polls, want 2", len(ts))
		}
		if d := ts[1].Sub(ts[0]); d < time.Second {
			t.Errorf("polled again after %v, before Retry-After: 1", d)
		}
	})
}

func TestRenewalInfo(t *testing.T) {
	ca := acmetest.NewTestMemoryCA(t, acmetest.CAOptions{Tamper: func(endpoint acmetest.Endpoint, doc map[string]any) {
		if endpoint == acmetest.EndpointRenewalInfo {
			doc["explanationURL"] = "https://example.test/ari"
		}
	}})
	c := memClient(ca)
	acct, err := c.NewAccount(ctxOf(t), acme.Account{Key: newKey(t, elliptic.P256()), TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf := issued(t, c, acct)
	start := time.Date(2025, 1, 2, 4, 0, 0, 0, time.UTC)
	if err := ca.SetRenewalWindow(leaf, start, start.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	noRetryAfter := acmetest.CAFault{Rewrite: func(a *acmetest.Answer) { a.Header.Del("Retry-After") }}
	ca.InjectFault(acmetest.EndpointRenewalInfo, 1, noRetryAfter)
	ri, err := c.RenewalInfo(ctxOf(t), leaf)
	if err != nil {
		t.Fatal(err)
	}
	if !ri.SuggestedWindow.Start.Equal(start) || ri.ExplanationURL != "https://example.test/ari" {
		t.Errorf("renewal info = %+v", ri)
	}
	if d := time.Until(ri.RetryAfter); d < 6*time.Hour-time.Minute || d > 6*time.Hour {
		t.Errorf("default RetryAfter in %v, want 6h", d)
	}
	ca.InjectFault(acmetest.EndpointRenewalInfo, 1, acmetest.CAFault{Rewrite: func(a *acmetest.Answer) { a.Header.Set("Retry-After", "120") }})
	ri, _ = c.RenewalInfo(ctxOf(t), leaf)
	if d := time.Until(ri.RetryAfter); d < time.Minute || d > 2*time.Minute {
		t.Errorf("RetryAfter in %v, want 2m", d)
	}
}
