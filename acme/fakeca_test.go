package acme_test

// Tests of the public API against the fake CA of acmetest, a strict server
// that checks signatures and issues real certificates. Protocol edge cases
// that need byte-level control of the answers use its CAFault.Answer and
// CAFault.Rewrite; tests that need unexported knobs get them from
// export_test.go. Package acme has no stub CA of its own.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
)

func newKey(t testing.TB, curve elliptic.Curve) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeCA starts a fake CA and registers an account with it.
func fakeCA(t *testing.T) (*acmetest.CA, *acme.Client, acme.Account) {
	t.Helper()
	ca := acmetest.NewTestCA(t, acmetest.CAOptions{})
	c := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
	acct, err := c.NewAccount(ctxOf(t), acme.Account{Key: newKey(t, elliptic.P256()), Contact: []string{"mailto:admin@example.test"}, TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	return ca, c, acct
}

func TestLookupAccount(t *testing.T) {
	_, c, acct := fakeCA(t)
	got, err := c.LookupAccount(ctxOf(t), acct.Key)
	if err != nil || got.URL != acct.URL {
		t.Fatalf("LookupAccount: %v %+v", err, got)
	}
	_, err = c.LookupAccount(ctxOf(t), newKey(t, elliptic.P256()))
	if !acme.IsAccountDoesNotExist(err) {
		t.Fatalf("unknown key: %v", err)
	}
	var p *acme.Problem
	if !errors.As(err, &p) || p.Status != 400 || !strings.Contains(p.Detail, "no account") {
		t.Fatalf("problem = %+v", p)
	}
	if acme.IsRetryable(err) {
		t.Error("accountDoesNotExist is retryable")
	}
}

// TestChangeKey: the CA checks the inner JWS (jwk of the new key, no kid,
// no nonce, the keyChange url, signed by the new key, naming the account
// and its old key, §7.3.5) and then knows the account by the new key only.
func TestChangeKey(t *testing.T) {
	_, c, acct := fakeCA(t)
	ctx := ctxOf(t)
	newK := newKey(t, elliptic.P384())
	got, err := c.ChangeKey(ctx, acct, newK)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != newK || got.URL != acct.URL {
		t.Fatalf("ChangeKey = %+v", got)
	}
	if _, err := c.LookupAccount(ctx, acct.Key); !acme.IsAccountDoesNotExist(err) {
		t.Errorf("old key still finds the account: %v", err)
	}
	if a, err := c.LookupAccount(ctx, newK); err != nil || a.URL != acct.URL {
		t.Errorf("new key does not find the account: %v %+v", err, a)
	}
	if a, err := c.GetAccount(ctx, got); err != nil || a.URL != acct.URL {
		t.Errorf("new key: %v", err)
	}
}

// TestChangeKeyResponseLost: the CA rolled the key over but its answer was
// lost; the client finds out by a lookup instead of sending it again.
func TestChangeKeyResponseLost(t *testing.T) {
	ca, c, acct := fakeCA(t)
	ca.InjectFault(acmetest.EndpointKeyChange, 1, acmetest.CAFault{Fault: acmetest.DropResponse})
	newK := newKey(t, elliptic.P256())
	got, err := c.ChangeKey(ctxOf(t), acct, newK)
	if err != nil || got.Key != newK {
		t.Fatalf("ChangeKey: %v", err)
	}
	if n := ca.Requests(acmetest.EndpointKeyChange); n != 1 {
		t.Errorf("keyChange sent %d times; the lookup should have shown it took effect", n)
	}
}

func TestWaitOrderInvalid(t *testing.T) {
	ca, c, acct := fakeCA(t)
	ctx := ctxOf(t)
	const detail = "CAA record for example.test prevents issuance"
	ca.FailValidations("example.test", acmetest.Problem(acme.ProblemCAA, detail))
	o, err := c.NewOrder(ctx, acct, []acme.Identifier{acme.DNSIdentifier("example.test")})
	if err != nil {
		t.Fatal(err)
	}
	az, _ := c.GetAuthorization(ctx, acct, o.Authorizations[0])
	var dns01 acme.Challenge
	for _, ch := range az.Challenges {
		if ch.Type == acme.ChallengeDNS01 {
			dns01 = ch
		}
	}
	if _, err := c.AcceptChallenge(ctx, acct, dns01); err != nil {
		t.Fatal(err)
	}
	az, err = c.WaitAuthorization(ctx, acct, o.Authorizations[0])
	var p *acme.Problem
	if az.Status != acme.StatusInvalid || !errors.As(err, &p) || p.Type != acme.ProblemCAA {
		t.Fatalf("WaitAuthorization: %v %+v", err, az)
	}
	got, err := c.WaitOrder(ctx, acct, o.URL)
	if got.Status != acme.StatusInvalid || got.URL != o.URL {
		t.Fatalf("order = %+v", got)
	}
	var oe *acme.OrderError
	if !errors.As(err, &oe) {
		t.Fatalf("err = %T %v", err, err)
	}
	if len(oe.Authorizations) != 1 || oe.Problem == nil || oe.Problem.Type != acme.ProblemCAA {
		t.Errorf("OrderError = %+v", oe)
	}
	if !strings.Contains(err.Error(), detail) || !strings.Contains(err.Error(), "dns-01") {
		t.Errorf("Error() does not quote the CA: %s", err)
	}
	if !acme.IsCAA(err) {
		t.Error("IsCAA(OrderError) = false")
	}
}

func TestWaitOrderContext(t *testing.T) {
	_, c, acct := fakeCA(t)
	o, _ := c.NewOrder(ctxOf(t), acct, []acme.Identifier{acme.DNSIdentifier("example.test")})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	got, err := c.WaitOrder(ctx, acct, o.URL)
	if !errors.Is(err, context.DeadlineExceeded) || got.Status != acme.StatusPending {
		t.Fatalf("WaitOrder on a pending order: %v %+v", err, got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v past the deadline", d)
	}
}

func TestDeactivateAuthorization(t *testing.T) {
	_, c, acct := fakeCA(t)
	ctx := ctxOf(t)
	o, _ := c.NewOrder(ctx, acct, []acme.Identifier{acme.DNSIdentifier("example.test")})
	az, err := c.DeactivateAuthorization(ctx, acct, o.Authorizations[0])
	if err != nil || az.Status != acme.StatusDeactivated || az.Challenges[0].KeyAuthorization == "" {
		t.Fatalf("%v %+v", err, az)
	}
	if _, err := c.WaitAuthorization(ctx, acct, o.Authorizations[0]); err == nil {
		t.Error("WaitAuthorization on a deactivated authz returned nil")
	}
	if got, err := c.WaitOrder(ctx, acct, o.URL); err == nil || got.Status != acme.StatusInvalid {
		t.Errorf("order with a deactivated authorization: %v %+v", err, got)
	}
}

func TestNewOrderRejectsEmpty(t *testing.T) {
	ca, c, acct := fakeCA(t)
	for _, ids := range [][]acme.Identifier{nil, {acme.DNSIdentifier("")}, {acme.IPIdentifier(netip.Addr{})}} {
		if _, err := c.NewOrder(ctxOf(t), acct, ids); err == nil {
			t.Errorf("NewOrder(%v) succeeded", ids)
		}
	}
	if n := ca.Requests(acmetest.EndpointNewOrder); n != 0 {
		t.Errorf("%d empty orders reached the CA", n)
	}
	if id := acme.IPIdentifier(netip.MustParseAddr("::ffff:192.0.2.1")); id.Value != "192.0.2.1" || id.Type != acme.IdentifierIP {
		t.Errorf("IPIdentifier = %+v", id)
	}
}
