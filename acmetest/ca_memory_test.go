package acmetest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net/http"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
)

// TestMemoryCAFollowsBubbleClock runs an order against an in-memory fake
// CA inside a synctest bubble: the finalize answer and two order reads
// say "processing" with a one-minute Retry-After, and the client waits
// out exactly those three minutes of the bubble's clock, in far less real
// time; the certificate's validity follows the bubble's clock too.
func TestMemoryCAFollowsBubbleClock(t *testing.T) {
	const retryAfter = time.Minute
	realStart := time.Now()
	synctest.Test(t, func(t *testing.T) {
		ca := acmetest.NewTestMemoryCA(t, acmetest.CAOptions{ProcessingPolls: 2, RetryAfter: retryAfter, CertificateLifetime: 6 * 24 * time.Hour})
		if ca.Addr() != nil {
			t.Errorf("in-memory CA has an address %v", ca.Addr())
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		c := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
		acct, err := c.NewAccount(ctx, acme.Account{Key: newKey(t), TermsOfServiceAgreed: true})
		if err != nil {
			t.Fatal(err)
		}
		o, err := c.NewOrder(ctx, acct, []acme.Identifier{acme.DNSIdentifier("example.test")})
		if err != nil {
			t.Fatal(err)
		}
		az, err := c.GetAuthorization(ctx, acct, o.Authorizations[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.AcceptChallenge(ctx, acct, az.Challenges[0]); err != nil {
			t.Fatal(err)
		}
		if o, err = c.WaitOrder(ctx, acct, o.URL); err != nil || o.Status != acme.StatusReady {
			t.Fatalf("WaitOrder before finalize: %v, %s", err, o.Status)
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"example.test"}}, key)
		if err != nil {
			t.Fatal(err)
		}
		reads := ca.Requests(acmetest.EndpointOrder)
		finalized := time.Now()
		if o, err = c.FinalizeOrder(ctx, acct, o, csr); err != nil || o.Status != acme.StatusProcessing {
			t.Fatalf("FinalizeOrder: %v, %s; want processing", err, o.Status)
		}
		if o, err = c.WaitOrder(ctx, acct, o.URL); err != nil || o.Status != acme.StatusValid {
			t.Fatalf("WaitOrder after finalize: %v, %s", err, o.Status)
		}
		if took := time.Since(finalized); took != 3*retryAfter {
			t.Errorf("valid %v after finalize on the bubble's clock, want exactly 3 Retry-Afters (%v)", took, 3*retryAfter)
		}
		if n := ca.Requests(acmetest.EndpointOrder) - reads; n != 3 {
			t.Errorf("%d order reads after finalize, want 2 processing and 1 valid", n)
		}
		chains, err := c.GetCertificateChains(ctx, acct, o.CertificateURL)
		if err != nil {
			t.Fatal(err)
		}
		leaf := chains[0].Certificates[0] // X.509 times are whole seconds
		if leaf.NotBefore.After(finalized) || finalized.Sub(leaf.NotBefore) > time.Minute+time.Second || leaf.NotAfter.Sub(leaf.NotBefore) != 6*24*time.Hour {
			t.Errorf("certificate valid %v to %v; want 6 days from the bubble's finalize time %v", leaf.NotBefore, leaf.NotAfter, finalized)
		}
	})
	if took := time.Since(realStart); took >= 3*retryAfter {
		t.Errorf("took %v of real time: the waits were not on the bubble's clock", took)
	}
}

// TestMemoryCATransport: the in-memory transport refuses other hosts,
// turns a connection fault into an error wrapping ECONNRESET (after the
// CA acted, for DropResponse), gives a Slow fault's wait to the context,
// and refuses requests once the CA is closed.
func TestMemoryCATransport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, err := acmetest.NewMemoryCA(acmetest.CAOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hc := ca.HTTPClient()
		if _, err := hc.Get("https://elsewhere.example.test/dir"); err == nil {
			t.Error("request for another host answered")
		}
		resp, err := hc.Get(ca.DirectoryURL)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("directory: %v", err)
		}
		resp.Body.Close()

		ca.InjectFault(acmetest.EndpointDirectory, 1, acmetest.CAFault{Fault: acmetest.ConnectionReset})
		if _, err := hc.Get(ca.DirectoryURL); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("ConnectionReset: %v, want ECONNRESET", err)
		}
		ca.InjectFault(acmetest.EndpointNewNonce, 1, acmetest.CAFault{Fault: acmetest.DropResponse})
		if _, err := hc.Head(acmetest.MemoryCABase + "/nonce"); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("DropResponse: %v, want ECONNRESET", err)
		}

		ca.InjectFault(acmetest.EndpointDirectory, 1, acmetest.CAFault{Fault: acmetest.Slow, Delay: time.Hour})
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ca.DirectoryURL, nil)
		start := time.Now()
		if _, err := hc.Do(req); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Slow past the deadline: %v", err)
		}
		if took := time.Since(start); took != time.Minute {
			t.Errorf("gave up after %v, want the one-minute deadline", took)
		}

		ca.Close()
		if _, err := hc.Get(ca.DirectoryURL); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("after Close: %v, want ECONNREFUSED", err)
		}
	})
}

// TestCAAnswerAndRewrite: CAFault.Answer sends its bytes without acting
// (with a fresh nonce), CAFault.Rewrite changes the answer to a request
// the CA acted on.
func TestCAAnswerAndRewrite(t *testing.T) {
	ca := acmetest.NewTestMemoryCA(t, acmetest.CAOptions{})
	c, acct := register(t, ca)
	ca.InjectFault(acmetest.EndpointNewOrder, 1, acmetest.CAFault{Answer: &acmetest.Answer{
		Status: http.StatusServiceUnavailable, Header: http.Header{"Content-Type": {"text/html"}}, Body: []byte("<h1>down</h1>"),
	}})
	var statuses []int
	c.OnRequest = func(ri acme.RequestInfo) { statuses = append(statuses, ri.Status) }
	o, err := c.NewOrder(ctxFor(t), acct, []acme.Identifier{acme.DNSIdentifier("example.test")})
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 2 || statuses[0] != http.StatusServiceUnavailable || statuses[1] != http.StatusCreated {
		t.Errorf("statuses %v, want the raw 503 then 201", statuses)
	}
	var served string
	ca.InjectFault(acmetest.EndpointOrder, 1, acmetest.CAFault{Rewrite: func(a *acmetest.Answer) {
		a.Status = http.StatusGatewayTimeout
		a.Body = []byte("gateway timeout")
		served = a.Header.Get("Content-Type")
	}})
	statuses = nil
	if _, err := c.GetOrder(ctxFor(t), acct, o.URL); err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 2 || statuses[0] != http.StatusGatewayTimeout || served != "application/json" {
		t.Errorf("statuses %v, served content type %q; want 504 rewritten from the CA's JSON answer, then 200", statuses, served)
	}
}
