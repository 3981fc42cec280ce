package e2e

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
)

func TestAccountLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{})
	ctx := e.ctx()
	found, err := e.client.LookupAccount(ctx, e.account.Key)
	if err != nil || found.URL != e.account.URL {
		t.Fatalf("LookupAccount = %v, %v; want %s", found.URL, err, e.account.URL)
	}
	stranger, _ := keys.Generate(keys.EC256)
	if _, err := e.client.LookupAccount(ctx, stranger); !acme.IsAccountDoesNotExist(err) {
		t.Fatalf("LookupAccount(unknown key) = %v, want accountDoesNotExist", err)
	}
	acct := e.account
	acct.Contact = []string{"mailto:new@example.test"}
	upd, err := e.client.UpdateAccount(ctx, acct)
	if err != nil || len(upd.Contact) != 1 || upd.Contact[0] != "mailto:new@example.test" {
		t.Fatalf("UpdateAccount = %+v, %v", upd.Contact, err)
	}
	got, err := e.client.GetAccount(ctx, e.account)
	if err != nil || got.Contact[0] != "mailto:new@example.test" || got.Status != acme.StatusValid {
		t.Fatalf("GetAccount = %+v, %v", got, err)
	}
	deact, err := e.client.DeactivateAccount(ctx, e.account)
	if err != nil || deact.Status != acme.StatusDeactivated {
		t.Fatalf("DeactivateAccount = %v, %v", deact.Status, err)
	}
	if _, err := e.client.NewOrder(ctx, e.account, ids(t, "x.example.test")); !acme.IsUnauthorized(err) {
		t.Fatalf("order on a deactivated account: %v, want unauthorized", err)
	}
}

func TestKeyRollover(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{})
	ctx := e.ctx()
	newKey, _ := keys.Generate(keys.RSA2048)
	rolled, err := e.client.ChangeKey(ctx, e.account, newKey)
	if err != nil {
		t.Fatal(err)
	}
	if rolled.URL != e.account.URL || rolled.Key != newKey {
		t.Fatalf("ChangeKey returned %+v", rolled)
	}
	if found, err := e.client.LookupAccount(ctx, newKey); err != nil || found.URL != e.account.URL {
		t.Fatalf("lookup by the new key: %v, %v", found.URL, err)
	}
	if _, err := e.client.LookupAccount(ctx, e.account.Key); !acme.IsAccountDoesNotExist(err) {
		t.Fatalf("lookup by the old key: %v, want accountDoesNotExist", err)
	}
	// The account keeps working with its RS256 key.
	e.account = rolled
	if _, err := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: e.httpSolver()}).
		Obtain(ctx, issue.Request{Identifiers: ids(t, "rolled.example.test")}); err != nil {
		t.Fatal(err)
	}
}

func TestExternalAccountBinding(t *testing.T) {
	t.Parallel()
	mac := []byte("a secret hmac key of 32 bytes!!!")
	e := newEnv(t, acmetest.PebbleOptions{EABRequired: true, EABKeys: map[string]string{
		"kid-1": base64.RawURLEncoding.EncodeToString(mac),
	}})
	ctx := e.ctx()
	dir, err := e.client.Directory(ctx)
	if err != nil || !dir.Meta.ExternalAccountRequired {
		t.Fatalf("directory meta externalAccountRequired = %v, %v", dir.Meta.ExternalAccountRequired, err)
	}
	key, _ := keys.Generate(keys.EC384)
	_, err = e.client.NewAccount(ctx, acme.Account{Key: key, TermsOfServiceAgreed: true})
	var p *acme.Problem
	if !errors.As(err, &p) || p.Type != acme.ProblemExternalAccountRequired {
		t.Fatalf("without EAB: %v, want externalAccountRequired", err)
	}
	_, err = e.client.NewAccount(ctx, acme.Account{Key: key, TermsOfServiceAgreed: true},
		acme.WithExternalAccountBinding("kid-1", []byte("the wrong key")))
	if err == nil {
		t.Fatal("EAB with a wrong HMAC key was accepted")
	}
	e.account = e.register(acme.Account{Key: key, TermsOfServiceAgreed: true}, acme.WithExternalAccountBinding("kid-1", mac))
	if _, err := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: e.httpSolver()}).
		Obtain(ctx, issue.Request{Identifiers: ids(t, "eab.example.test")}); err != nil {
		t.Fatal(err)
	}
}

func TestRevocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{})
	ctx := e.ctx()
	is := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: e.httpSolver()})
	a, err := is.Obtain(ctx, issue.Request{Identifiers: ids(t, "revoke-a.example.test")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := is.Obtain(ctx, issue.Request{Identifiers: ids(t, "revoke-b.example.test")})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.RevokeCertificate(ctx, e.account, a.Leaf.Raw, acme.ReasonSuperseded); err != nil {
		t.Fatalf("revoke by account key: %v", err)
	}
	if err := e.client.RevokeCertificateWithKey(ctx, b.Key, b.Leaf.Raw, acme.ReasonKeyCompromise); err != nil {
		t.Fatalf("revoke by certificate key: %v", err)
	}
	var p *acme.Problem
	if err := e.client.RevokeCertificate(ctx, e.account, a.Leaf.Raw, acme.ReasonSuperseded); !errors.As(err, &p) || p.Type != acme.ProblemAlreadyRevoked {
		t.Fatalf("second revocation: %v, want alreadyRevoked", err)
	}
	// Another account cannot revoke a certificate it did not order.
	other := e.register(acme.Account{TermsOfServiceAgreed: true})
	c, err := is.Obtain(ctx, issue.Request{Identifiers: ids(t, "revoke-c.example.test")})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.RevokeCertificate(ctx, other, c.Leaf.Raw, acme.ReasonUnspecified); !acme.IsUnauthorized(err) {
		t.Fatalf("revocation by a stranger: %v, want unauthorized", err)
	}
}

func TestRenewalInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, acmetest.PebbleOptions{})
	ctx := e.ctx()
	is := e.issuer(map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: e.httpSolver()})
	cert, err := is.Obtain(ctx, issue.Request{Identifiers: ids(t, "ari.example.test")})
	if err != nil {
		t.Fatal(err)
	}
	ri, err := e.client.RenewalInfo(ctx, cert.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	w := ri.SuggestedWindow
	if w.Start.IsZero() || !w.Start.Before(w.End) || w.Start.Before(cert.Leaf.NotBefore) || w.End.After(cert.Leaf.NotAfter) {
		t.Errorf("suggested window %v – %v not inside the validity %v – %v", w.Start, w.End, cert.Leaf.NotBefore, cert.Leaf.NotAfter)
	}
	if !ri.RetryAfter.After(time.Now()) {
		t.Errorf("RetryAfter %v is not in the future", ri.RetryAfter)
	}
	// The renewal names the certificate it replaces.
	id, err := acme.ARICertID(cert.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := is.Obtain(ctx, issue.Request{Identifiers: ids(t, "ari.example.test"), Replaces: id}); err != nil {
		t.Fatalf("order with replaces: %v", err)
	}
	// A certificate can be replaced once only.
	_, err = is.Obtain(ctx, issue.Request{Identifiers: ids(t, "ari.example.test"), Replaces: id})
	var p *acme.Problem
	if !errors.As(err, &p) || p.Type != acme.ProblemAlreadyReplaced {
		t.Fatalf("second replacement: %v, want alreadyReplaced", err)
	}
}
