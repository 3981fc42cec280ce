package acmetest_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
)

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// register returns a client of ca and a new account.
func register(t *testing.T, ca *acmetest.CA, opts ...acme.AccountOption) (*acme.Client, acme.Account) {
	t.Helper()
	c := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
	acct, err := c.NewAccount(ctxFor(t), acme.Account{Key: newKey(t), TermsOfServiceAgreed: true, Contact: []string{"mailto:admin@example.test"}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, acct
}

func issuer(c *acme.Client, acct acme.Account, s challenge.Solver) *issue.Issuer {
	return &issue.Issuer{Client: c, Account: acct, Solvers: map[acme.ChallengeType]challenge.Solver{
		acme.ChallengeHTTP01: s, acme.ChallengeDNS01: s, acme.ChallengeTLSALPN01: s,
	}}
}

func ids(t *testing.T, names ...string) []acme.Identifier {
	t.Helper()
	out, err := issue.ParseIdentifiers(names...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCAIssues runs orders through issue.Issuer against the fake CA: the
// certificate verifies under the CA's roots for the names asked, on every
// chain, and every challenge presented is cleaned up.
func TestCAIssues(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{Now: func() time.Time { return now }, AlternateChains: 1})
	c, acct := register(t, ca)
	var s acmetest.NullSolver
	names := []string{"*.example.test", "example.test", "www.example.test", "192.0.2.7"}
	cert, err := issuer(c, acct, &s).Obtain(ctxFor(t), issue.Request{Identifiers: ids(t, names...)})
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if !leaf.NotBefore.Before(now) || leaf.NotAfter.Sub(leaf.NotBefore) != 90*24*time.Hour {
		t.Errorf("validity %v – %v, want 90 days from the fake clock %v", leaf.NotBefore, leaf.NotAfter, now)
	}
	for _, n := range []string{"x.example.test", "example.test", "www.example.test", "192.0.2.7"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: n, Roots: ca.Roots(), CurrentTime: now,
			Intermediates: pool(ca.Intermediates()[:1])}); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.test", Roots: ca.Roots(), CurrentTime: now}); err == nil {
		t.Error("certificate valid for a name not ordered")
	}
	p, cl := s.Calls()
	if p != len(names) || cl != p {
		t.Errorf("solver presents %d cleanups %d, want %d each", p, cl, len(names))
	}

	chains := cert.Chains
	if len(chains) != 2 {
		t.Fatalf("%d chains, want 2 (one alternate)", len(chains))
	}
	for i, ch := range chains {
		root := x509.NewCertPool()
		var roots []*x509.Certificate
		for _, in := range ca.Intermediates() {
			if in.Equal(ch.Certificates[1]) {
				roots = append(roots, in)
			}
		}
		if len(roots) != 1 {
			t.Fatalf("chain %d: intermediate not the CA's", i)
		}
		root.AddCert(roots[0])
		if _, err := ch.Certificates[0].Verify(x509.VerifyOptions{DNSName: "example.test", Roots: root, CurrentTime: now}); err != nil {
			t.Errorf("chain %d: %v", i, err)
		}
	}
	if chains[0].Certificates[1].Issuer.CommonName == chains[1].Certificates[1].Issuer.CommonName {
		t.Error("alternate chain under the same root")
	}
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// TestCAHoldAndDecide holds validations: the order waits until the test
// approves one and fails the other, and the client sees the problem given.
func TestCAHoldAndDecide(t *testing.T) {
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{})
	c, acct := register(t, ca)
	ca.HoldValidations()
	errc := make(chan error, 1)
	go func() {
		_, err := issuer(c, acct, &acmetest.NullSolver{}).Obtain(ctxFor(t), issue.Request{Identifiers: ids(t, "a.example.test", "b.example.test")})
		errc <- err
	}()
	got := map[string]*acmetest.HeldValidation{}
	for range 2 {
		v, err := ca.NextHeld(ctxFor(t))
		if err != nil {
			t.Fatal(err)
		}
		got[v.Identifier.Value] = v
	}
	if ca.HeldCount() != 2 {
		t.Errorf("HeldCount = %d, want 2", ca.HeldCount())
	}
	select {
	case err := <-errc:
		t.Fatalf("order ended while validations were held: %v", err)
	default:
	}
	got["a.example.test"].Approve()
	got["b.example.test"].Fail(acmetest.Problem(acme.ProblemCAA, "CAA forbids acmetest"))
	err := <-errc
	var p *acme.Problem
	if !errors.As(err, &p) || p.Type != acme.ProblemCAA || p.Detail != "CAA forbids acmetest" {
		t.Fatalf("Obtain error = %v, want the CAA problem given", err)
	}
}

// TestCAReleaseAndFailValidations: ReleaseValidations lets held
// validations go on; FailValidations fails a name until cleared.
func TestCAReleaseAndFailValidations(t *testing.T) {
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{})
	c, acct := register(t, ca)
	is := issuer(c, acct, &acmetest.NullSolver{})
	ca.HoldValidations()
	errc := make(chan error, 1)
	go func() {
		_, err := is.Obtain(ctxFor(t), issue.Request{Identifiers: ids(t, "example.test")})
		errc <- err
	}()
	if _, err := ca.NextHeld(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	ca.ReleaseValidations()
	if err := <-errc; err != nil {
		t.Fatalf("after release: %v", err)
	}
	ca.FailValidations("example.test", acme.Problem{Type: acme.ProblemDNS, Detail: "NXDOMAIN"})
	if _, err := is.Obtain(ctxFor(t), issue.Request{Identifiers: ids(t, "example.test")}); !hasProblem(err, acme.ProblemDNS) {
		t.Fatalf("failed validation gave %v", err)
	}
	ca.ClearFailures()
	if _, err := is.Obtain(ctxFor(t), issue.Request{Identifiers: ids(t, "example.test")}); err != nil {
		t.Fatalf("after ClearFailures: %v", err)
	}
}

// TestCAFaults injects each fault kind into one endpoint: the client
// retries where the RFC lets it and the order still completes.
func TestCAFaults(t *testing.T) {
	for _, tc := range []struct {
		endpoint acmetest.Endpoint
		fault    acmetest.CAFault
		extra    int // requests to endpoint beyond the fault-free run
	}{
		{acmetest.EndpointNewOrder, acmetest.CAFault{Fault: acmetest.Status500}, 1},
		{acmetest.EndpointNewOrder, acmetest.CAFault{Fault: acmetest.Status503RetryAfter, RetryAfter: time.Second}, 1},
		{acmetest.EndpointNewOrder, acmetest.CAFault{Fault: acmetest.Status429RetryAfter}, 1},
		{acmetest.EndpointNewOrder, acmetest.CAFault{Fault: acmetest.BadNonce}, 1},
		{acmetest.EndpointNewOrder, acmetest.CAFault{Fault: acmetest.ConnectionReset}, 1},
		{acmetest.EndpointFinalize, acmetest.CAFault{Fault: acmetest.DropResponse}, 0},
		{acmetest.EndpointAuthz, acmetest.CAFault{Fault: acmetest.Slow, Delay: 50 * time.Millisecond}, 0},
	} {
		t.Run(tc.fault.Fault.String(), func(t *testing.T) {
			ca := acmetest.NewTestCA(t, acmetest.CAOptions{})
			c, acct := register(t, ca)
			ca.InjectFault(tc.endpoint, 1, tc.fault)
			start := time.Now()
			if _, err := issuer(c, acct, &acmetest.NullSolver{}).Obtain(ctxFor(t), issue.Request{Identifiers: ids(t, "example.test")}); err != nil {
				t.Fatal(err)
			}
			if tc.fault.Fault == acmetest.Status503RetryAfter && time.Since(start) < time.Second {
				t.Errorf("order done in %v, before the Retry-After of 1 s", time.Since(start))
			}
			if tc.extra > 0 {
				if n := ca.Requests(tc.endpoint); n != 1+tc.extra {
					t.Errorf("%s requests = %d, want %d (one faulted, one retried)", tc.endpoint, n, 1+tc.extra)
				}
			}
			if tc.fault.Fault == acmetest.DropResponse && ca.Requests(acmetest.EndpointFinalize) != 1 {
				t.Errorf("finalize sent %d times after a lost answer, want 1 (the order is read instead)", ca.Requests(acmetest.EndpointFinalize))
			}
		})
	}
}

// TestCASlowClientGivesUp: a Slow fault longer than the client's deadline
// makes the call fail with the deadline.
func TestCASlowClientGivesUp(t *testing.T) {
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{})
	c, _ := register(t, ca)
	ca.InjectFault(acmetest.EndpointDirectory, 1, acmetest.CAFault{Fault: acmetest.Slow, Delay: time.Minute})
	c2 := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := c2.Directory(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Directory = %v, want the deadline", err)
	}
	_ = c
}

// TestCAExternalAccountBinding: accounts need a binding by a known key.
func TestCAExternalAccountBinding(t *testing.T) {
	hmacKey := []byte("0123456789abcdef0123456789abcdef")
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{EAB: map[string][]byte{"kid-1": hmacKey}})
	c := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
	acct := acme.Account{Key: newKey(t), TermsOfServiceAgreed: true}
	if _, err := c.NewAccount(ctxFor(t), acct); !hasProblem(err, acme.ProblemExternalAccountRequired) {
		t.Fatalf("without binding: %v", err)
	}
	if _, err := c.NewAccount(ctxFor(t), acct, acme.WithExternalAccountBinding("kid-1", []byte("wrong key wrong key wrong key!!!"))); !acme.IsUnauthorized(err) {
		t.Fatalf("wrong HMAC key: %v", err)
	}
	if _, err := c.NewAccount(ctxFor(t), acct, acme.WithExternalAccountBinding("kid-1", hmacKey)); err != nil {
		t.Fatalf("with binding: %v", err)
	}
}

// TestCARenewalInfoAndRevocation: ARI follows the fake clock and the
// controller, revocation works by account and by certificate key once.
func TestCARenewalInfoAndRevocation(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2031, 5, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{Now: clock, Profiles: map[string]time.Duration{"shortlived": 6 * 24 * time.Hour}})
	c, acct := register(t, ca)
	cert, err := issuer(c, acct, &acmetest.NullSolver{}).Obtain(ctxFor(t), issue.Request{Identifiers: ids(t, "example.test"), Profile: "shortlived"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life != 6*24*time.Hour {
		t.Fatalf("profile lifetime %v, want 6 days", life)
	}
	ri, err := c.RenewalInfo(ctxFor(t), leaf)
	if err != nil {
		t.Fatal(err)
	}
	if want := leaf.NotAfter.Add(-2 * 24 * time.Hour); !ri.SuggestedWindow.Start.Equal(want) {
		t.Errorf("window starts %v, want %v", ri.SuggestedWindow.Start, want)
	}
	start, end := now.Add(time.Hour), now.Add(2*time.Hour)
	if err := ca.SetRenewalWindow(leaf, start, end); err != nil {
		t.Fatal(err)
	}
	if ri, err = c.RenewalInfo(ctxFor(t), leaf); err != nil || !ri.SuggestedWindow.Start.Equal(start) || !ri.SuggestedWindow.End.Equal(end) {
		t.Fatalf("after SetRenewalWindow: %v %+v", err, ri.SuggestedWindow)
	}
	// Replaces must name a certificate of the account.
	replaces, _ := acme.ARICertID(leaf)
	if _, err := c.NewOrder(ctxFor(t), acct, ids(t, "example.test"), acme.WithReplaces(replaces)); err != nil {
		t.Fatalf("order replacing an issued certificate: %v", err)
	}
	if _, err := c.NewOrder(ctxFor(t), acct, ids(t, "example.test"), acme.WithReplaces("AAAA.AAAA")); err == nil {
		t.Fatal("order replacing an unknown certificate accepted")
	}

	if err := c.RevokeCertificateWithKey(ctxFor(t), newKey(t), leaf.Raw, acme.ReasonKeyCompromise); !acme.IsUnauthorized(err) {
		t.Fatalf("revocation by a stranger's key: %v", err)
	}
	if err := c.RevokeCertificateWithKey(ctxFor(t), cert.Key, leaf.Raw, acme.ReasonKeyCompromise); err != nil {
		t.Fatalf("revocation by the certificate key: %v", err)
	}
	if err := c.RevokeCertificate(ctxFor(t), acct, leaf.Raw, acme.ReasonSuperseded); !hasProblem(err, acme.ProblemAlreadyRevoked) {
		t.Fatalf("second revocation: %v", err)
	}
}

func hasProblem(err error, typ acme.ProblemType) bool {
	var p *acme.Problem
	return errors.As(err, &p) && p.Type == typ
}
