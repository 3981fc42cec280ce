package acmetest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
)

// challenges returns the challenge types of the first authorization of a
// new order for name.
func challenges(t *testing.T, c *acme.Client, acct acme.Account, name string) (acme.Authorization, []acme.ChallengeType) {
	t.Helper()
	o, err := c.NewOrder(ctxFor(t), acct, ids(t, name))
	if err != nil {
		t.Fatal(err)
	}
	az, err := c.GetAuthorization(ctxFor(t), acct, o.Authorizations[0])
	if err != nil {
		t.Fatal(err)
	}
	var types []acme.ChallengeType
	for _, ch := range az.Challenges {
		types = append(types, ch.Type)
	}
	return az, types
}

// TestCAChallengesOffered: CAOptions.Challenges sets the types offered,
// DNS-based ones alone for a wildcard and http-01/tls-alpn-01 alone for an
// IP address; dns-persist-01 carries the issuer domain names, and
// dns-account-01 is approved by the controller.
func TestCAChallengesOffered(t *testing.T) {
	all := []acme.ChallengeType{acme.ChallengeHTTP01, acme.ChallengeDNSAccount01, acme.ChallengeDNSPersist01, acme.ChallengeTLSALPN01}
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{Challenges: all, IssuerDomainNames: []string{"ca.example.test", "other.example.test"}})
	c, acct := register(t, ca)
	for name, want := range map[string][]acme.ChallengeType{
		"www.example.test": all,
		"*.example.test":   {acme.ChallengeDNSAccount01, acme.ChallengeDNSPersist01},
		"192.0.2.1":        {acme.ChallengeHTTP01, acme.ChallengeTLSALPN01},
	} {
		az, got := challenges(t, c, acct, name)
		if !slices.Equal(got, want) {
			t.Errorf("%s: offered %v, want %v", name, got, want)
		}
		for _, ch := range az.Challenges {
			if ch.Type == acme.ChallengeDNSPersist01 && !slices.Equal(ch.IssuerDomainNames, []string{"ca.example.test", "other.example.test"}) {
				t.Errorf("dns-persist-01 issuer-domain-names %v", ch.IssuerDomainNames)
			}
		}
	}
	is := &issue.Issuer{Client: c, Account: acct, Solvers: map[acme.ChallengeType]challenge.Solver{acme.ChallengeDNSAccount01: &acmetest.NullSolver{}}}
	ca.HoldValidations()
	errc := make(chan error, 1)
	go func() {
		_, err := is.Obtain(ctxFor(t), issue.Request{Identifiers: ids(t, "*.example.test")})
		errc <- err
	}()
	v, err := ca.NextHeld(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	if v.Challenge != acme.ChallengeDNSAccount01 || !v.Wildcard || v.Identifier.Value != "example.test" {
		t.Errorf("held %+v, want dns-account-01 for the wildcard of example.test", v)
	}
	v.Approve()
	if err := <-errc; err != nil {
		t.Fatalf("dns-account-01 approved: %v", err)
	}
}

// TestCAReuseAuthorizations: with ReuseAuthorizations a new order gets
// the account's valid authorization for the same name (not another
// account's, not a wildcard's for the base name); without, a new one.
func TestCAReuseAuthorizations(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		ca := acmetest.NewTestCA(t, acmetest.CAOptions{ReuseAuthorizations: reuse})
		c, acct := register(t, ca)
		is := issuer(c, acct, &acmetest.NullSolver{})
		first, err := is.Obtain(ctxFor(t), issue.Request{Identifiers: ids(t, "example.test")})
		if err != nil {
			t.Fatal(err)
		}
		o1, _ := c.GetOrder(ctxFor(t), acct, first.OrderURL)
		o2, err := c.NewOrder(ctxFor(t), acct, ids(t, "example.test", "*.example.test"))
		if err != nil {
			t.Fatal(err)
		}
		if got := o2.Authorizations[0] == o1.Authorizations[0]; got != reuse {
			t.Errorf("reuse=%v: second order's authorization reused: %v", reuse, got)
		}
		if o2.Authorizations[1] == o1.Authorizations[0] {
			t.Errorf("reuse=%v: the wildcard reused the base name's authorization", reuse)
		}
		if reuse && o2.Status != acme.StatusPending {
			t.Errorf("order with one reused valid authorization is %s, want pending (the wildcard's is new)", o2.Status)
		}
		c2, acct2 := register(t, ca)
		o3, err := c2.NewOrder(ctxFor(t), acct2, ids(t, "example.test"))
		if err != nil {
			t.Fatal(err)
		}
		if o3.Authorizations[0] == o1.Authorizations[0] {
			t.Errorf("reuse=%v: another account got the authorization", reuse)
		}
	}
}

// TestCAProcessingAndRetryAfter: with ProcessingPolls the order reads
// "processing" (with Retry-After) that many times after finalize, then
// valid; the client waits it out: the finalize answer's Retry-After and
// one per processing read, exactly, on the clock of a synctest bubble
// (an in-memory CA, so no real time passes).
func TestCAProcessingAndRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := acmetest.NewTestMemoryCA(t, acmetest.CAOptions{ProcessingPolls: 2, RetryAfter: time.Second})
		c, acct := register(t, ca)
		start := time.Now()
		cert, err := issuer(c, acct, &acmetest.NullSolver{}).Obtain(ctxFor(t), issue.Request{Identifiers: ids(t, "example.test")})
		if err != nil {
			t.Fatal(err)
		}
		if n := ca.Requests(acmetest.EndpointOrder); n < 3 {
			t.Errorf("%d order reads, want at least 2 processing and 1 valid", n)
		}
		if took := time.Since(start); took < 3*time.Second || took > 3*time.Second+time.Second/2 {
			t.Errorf("done in %v of the bubble's clock: want the three 1 s Retry-Afters (finalize and two processing reads) and not much more", took)
		}
		if cert.Leaf == nil {
			t.Error("no certificate")
		}
	})
}

// TestCAFailedChallengeLeftOpen: FailedChallengeStatus pending leaves a
// failed challenge pending with its error and the authorization pending;
// answering it again validates again (FailNextValidations failed only the
// first).
func TestCAFailedChallengeLeftOpen(t *testing.T) {
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{FailedChallengeStatus: acme.StatusPending})
	c, acct := register(t, ca)
	ca.FailNextValidations("example.test", 1, acmetest.Problem(acme.ProblemConnection, "no answer"))
	az, _ := challenges(t, c, acct, "example.test")
	ch, err := c.AcceptChallenge(ctxFor(t), acct, az.Challenges[0])
	if err != nil {
		t.Fatal(err)
	}
	if ch.Status != acme.StatusPending || ch.Error == nil || ch.Error.Detail != "no answer" {
		t.Fatalf("after a failed validation: %s, error %v; want pending with the problem", ch.Status, ch.Error)
	}
	if got, _ := c.GetAuthorization(ctxFor(t), acct, az.URL); got.Status != acme.StatusPending {
		t.Fatalf("authorization %s, want pending", got.Status)
	}
	if ch, err = c.AcceptChallenge(ctxFor(t), acct, az.Challenges[0]); err != nil || ch.Status != acme.StatusValid {
		t.Fatalf("answered again: %s, %v; want valid", ch.Status, err)
	}
	if _, err := acmetest.StartCA(acmetest.CAOptions{FailedChallengeStatus: acme.StatusValid}); err == nil {
		t.Error("FailedChallengeStatus valid accepted")
	}
}

// TestCAFailAuthorizations: authorizations made after FailAuthorizations
// are invalid at once with the problem, until ClearFailures.
func TestCAFailAuthorizations(t *testing.T) {
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{})
	c, acct := register(t, ca)
	ca.FailAuthorizations("example.test", acme.Problem{Detail: "CAA forbids"})
	az, _ := challenges(t, c, acct, "*.example.test")
	if az.Status != acme.StatusInvalid || az.Challenges[0].Error == nil || az.Challenges[0].Error.Type != acme.ProblemCAA {
		t.Errorf("authorization %s, challenge error %v; want invalid with a caa problem", az.Status, az.Challenges[0].Error)
	}
	ca.ClearFailures()
	if az, _ = challenges(t, c, acct, "example.test"); az.Status != acme.StatusPending {
		t.Errorf("after ClearFailures: %s", az.Status)
	}
}

// TestCATamperAndMisissue: Tamper changes the documents the client reads;
// Misissue the certificate, and a broken chain does not verify.
func TestCATamperAndMisissue(t *testing.T) {
	var tampered atomic.Int32
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{
		Tamper: func(e acmetest.Endpoint, doc map[string]any) {
			if e == acmetest.EndpointAuthz && tampered.Load() > 0 {
				doc["identifier"] = acme.DNSIdentifier("evil.example.test")
			}
		},
		Misissue: func(is *acmetest.Issuance) {
			is.Template.DNSNames = append(is.Template.DNSNames, "extra.example.test")
			is.PublicKey = other.Public()
			is.BrokenChains = []int{0}
		},
	})
	c, acct := register(t, ca)
	tampered.Store(1)
	var mismatch *acme.MismatchError
	o, _ := c.NewOrder(ctxFor(t), acct, ids(t, "example.test"))
	if _, err := c.GetAuthorization(ctxFor(t), acct, o.Authorizations[0]); !errors.As(err, &mismatch) {
		t.Errorf("tampered authorization read as %v, want a *acme.MismatchError", err)
	}
	tampered.Store(0)
	_, err := issuer(c, acct, &acmetest.NullSolver{}).Obtain(ctxFor(t), issue.Request{Identifiers: ids(t, "example.test")})
	var bad *issue.BadCertificateError
	if !errors.As(err, &bad) {
		t.Fatalf("mis-issued certificate: %v, want a *issue.BadCertificateError", err)
	}
	chains, err := c.GetCertificateChains(ctxFor(t), acct, bad.URL)
	if err != nil {
		t.Fatal(err)
	}
	leaf := chains[0].Certificates[0]
	if !slices.Contains(leaf.DNSNames, "extra.example.test") || !other.PublicKey.Equal(leaf.PublicKey) {
		t.Errorf("leaf names %v, key changed %v", leaf.DNSNames, other.PublicKey.Equal(leaf.PublicKey))
	}
	if err := leaf.CheckSignatureFrom(chains[0].Certificates[1]); err == nil {
		t.Error("the broken chain's intermediate signed the leaf")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Roots(), Intermediates: pool(ca.Intermediates())}); err != nil {
		t.Errorf("the leaf does not verify under the CA's real intermediate: %v", err)
	}
}
