package acme_test

import (
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
)

// Fast schedules for tests that run in real time.
var (
	fastRetry = []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}
	fastPoll  = []time.Duration{time.Millisecond, 2 * time.Millisecond}
)

// memCA makes an in-memory fake CA (usable inside a synctest bubble), a
// client of it with fast retry and poll schedules, and an account.
func memCA(t *testing.T, opts acmetest.CAOptions) (*acmetest.CA, *acme.Client, acme.Account) {
	t.Helper()
	ca := acmetest.NewTestMemoryCA(t, opts)
	c := memClient(ca)
	acct, err := c.NewAccount(ctxOf(t), acme.Account{Key: newKey(t, elliptic.P256()), Contact: []string{"mailto:a@example.test"}, TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	return ca, c, acct
}

// memClient is a client of ca with fast schedules.
func memClient(ca *acmetest.CA) *acme.Client {
	c := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
	acme.SetSchedules(c, fastRetry, fastPoll)
	return c
}

// problemAnswer is a raw problem document (RFC 7807) answer, headers
// given as name, value pairs.
func problemAnswer(status int, typ acme.ProblemType, detail string, header ...string) *acmetest.Answer {
	body, _ := json.Marshal(map[string]any{"type": typ, "detail": detail, "status": status})
	return rawAnswer(status, "application/problem+json", string(body), header...)
}

// rawAnswer is an answer with the given content type and body.
func rawAnswer(status int, ctype, body string, header ...string) *acmetest.Answer {
	h := http.Header{"Content-Type": {ctype}}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &acmetest.Answer{Status: status, Header: h, Body: []byte(body)}
}

// csrFor is a CSR (DER) for names with a new key.
func csrFor(t *testing.T, names ...string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, newKey(t, elliptic.P256()))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// readyOrder places an order for example.test and has it validated: it
// is ready for finalize.
func readyOrder(t *testing.T, c *acme.Client, acct acme.Account) acme.Order {
	t.Helper()
	ctx := ctxOf(t)
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
	if _, err := c.WaitAuthorization(ctx, acct, az.URL); err != nil {
		t.Fatal(err)
	}
	o, err = c.WaitOrder(ctx, acct, o.URL)
	if err != nil || o.Status != acme.StatusReady {
		t.Fatalf("%v %+v", err, o)
	}
	return o
}

// issued has a certificate issued for example.test and returns its leaf.
func issued(t *testing.T, c *acme.Client, acct acme.Account) *x509.Certificate {
	t.Helper()
	ctx := ctxOf(t)
	o := readyOrder(t, c, acct)
	o, err := c.FinalizeOrder(ctx, acct, o, csrFor(t, "example.test"))
	if err != nil {
		t.Fatal(err)
	}
	if o, err = c.WaitOrder(ctx, acct, o.URL); err != nil {
		t.Fatal(err)
	}
	chains, err := c.GetCertificateChains(ctx, acct, o.CertificateURL)
	if err != nil {
		t.Fatal(err)
	}
	return chains[0].Certificates[0]
}

// requestTimes records, by endpoint, when c's requests were answered (on
// the bubble's clock inside synctest, where a round trip to an in-memory
// CA takes no time). Safe for concurrent use.
func requestTimes(c *acme.Client) func(endpoint string) []time.Time {
	var mu sync.Mutex
	times := map[string][]time.Time{}
	c.OnRequest = func(ri acme.RequestInfo) {
		mu.Lock()
		defer mu.Unlock()
		times[ri.Endpoint] = append(times[ri.Endpoint], time.Now())
	}
	return func(endpoint string) []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(times[endpoint])
	}
}

// isProblem reports whether err is an error answer of type typ.
func isProblem(err error, typ acme.ProblemType) bool {
	var p *acme.Problem
	return errors.As(err, &p) && p.Type == typ
}

// bubbleCA is memCA for a synctest bubble: the client keeps the real
// retry and poll schedules, which cost no real time there.
func bubbleCA(t *testing.T, opts acmetest.CAOptions) (*acmetest.CA, *acme.Client, acme.Account) {
	t.Helper()
	ca, c, acct := memCA(t, opts)
	acme.SetSchedules(c, nil, nil)
	return ca, c, acct
}
