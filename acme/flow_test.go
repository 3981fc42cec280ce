package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func ecKey(t testing.TB, curve elliptic.Curve) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func csr(t *testing.T) []byte {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "example.org"}, DNSNames: []string{"example.org"},
	}, ecKey(t, elliptic.P256()))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestFlow runs an order from account to revocation, with every key type.
func TestFlow(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, key := range map[string]crypto.Signer{
		"ES256": ecKey(t, elliptic.P256()), "ES384": ecKey(t, elliptic.P384()),
		"ES512": ecKey(t, elliptic.P521()), "RS256": rsaKey, "EdDSA": edKey,
	} {
		t.Run(name, func(t *testing.T) { testFlow(t, key) })
	}
}

func testFlow(t *testing.T, key crypto.Signer) {
	s := newStub()
	defer s.Close()
	c := s.client()
	c.UserAgent = "flowtest/2"
	ctx := testCtx(t)
	var endpoints []string
	c.OnRequest = func(ri RequestInfo) { endpoints = append(endpoints, ri.Endpoint) }

	acct, err := c.NewAccount(ctx, Account{Key: key, Contact: []string{"mailto:a@example.org"}, TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(acct.URL, s.url("/acct/")) || acct.Status != StatusValid || mustThumb(t, acct.Key.Public()) != mustThumb(t, key.Public()) || acct.OrdersURL == "" {
		t.Fatalf("account = %+v", acct)
	}
	again, err := c.NewAccount(ctx, Account{Key: key})
	if err != nil || again.URL != acct.URL {
		t.Fatalf("re-register: %v %+v", err, again)
	}
	if got, err := c.GetAccount(ctx, acct); err != nil || got.Contact[0] != "mailto:a@example.org" {
		t.Fatalf("GetAccount: %v %+v", err, got)
	}
	acct.Contact = []string{"mailto:b@example.org"}
	if got, err := c.UpdateAccount(ctx, acct); err != nil || len(got.Contact) != 1 || got.Contact[0] != "mailto:b@example.org" {
		t.Fatalf("UpdateAccount: %v %+v", err, got)
	}

	ids := []Identifier{DNSIdentifier("example.org"), IPIdentifier(netip.MustParseAddr("2001:db8::1"))}
	o, err := c.NewOrder(ctx, acct, ids, WithProfile("shortlived"), WithReplaces("aa.bb"), WithNotAfter(time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != StatusPending || len(o.Authorizations) != 2 || o.Profile != "shortlived" || o.Replaces != "aa.bb" || o.Identifiers[1].Value != "2001:db8::1" {
		t.Fatalf("order = %+v", o)
	}
	for _, u := range o.Authorizations {
		az, err := c.GetAuthorization(ctx, acct, u)
		if err != nil {
			t.Fatal(err)
		}
		var http01 Challenge
		for _, ch := range az.Challenges {
			if ch.Identifier != az.Identifier || ch.AccountURL != acct.URL || !strings.HasPrefix(ch.KeyAuthorization, ch.Token+".") {
				t.Errorf("challenge fields not filled: %+v", ch)
			}
			if ch.Type == ChallengeDNSPersist01 && (len(ch.IssuerDomainNames) != 1 || ch.IssuerDomainNames[0] != "ca.example") {
				t.Errorf("dns-persist-01 issuer-domain-names = %v", ch.IssuerDomainNames)
			}
			if ch.Type == ChallengeHTTP01 {
				http01 = ch
			}
		}
		got, err := c.AcceptChallenge(ctx, acct, http01)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != StatusProcessing || got.Identifier != http01.Identifier || got.KeyAuthorization != http01.KeyAuthorization {
			t.Errorf("accepted = %+v", got)
		}
		if az, err = c.WaitAuthorization(ctx, acct, u); err != nil || az.Status != StatusValid {
			t.Fatalf("WaitAuthorization: %v %+v", err, az)
		}
	}
	o, err = c.WaitOrder(ctx, acct, o.URL)
	if err != nil || o.Status != StatusReady {
		t.Fatalf("WaitOrder: %v %+v", err, o)
	}
	s.processingPolls = 3
	fo, err := c.FinalizeOrder(ctx, acct, o, csr(t))
	if err != nil {
		t.Fatal(err)
	}
	if fo.URL != o.URL || fo.Status != StatusProcessing {
		t.Fatalf("finalized = %+v (no Location: URL must be kept)", fo)
	}
	o, err = c.WaitOrder(ctx, acct, o.URL)
	if err != nil || o.Status != StatusValid || o.CertificateURL == "" {
		t.Fatalf("WaitOrder: %v %+v", err, o)
	}
	chains, err := c.GetCertificateChains(ctx, acct, o.CertificateURL)
	if err != nil {
		t.Fatal(err)
	}
	if len(chains) != 2 || chains[0].URL != o.CertificateURL || chains[1].URL != o.CertificateURL+"/alt" {
		t.Fatalf("chains: %d %+v", len(chains), chains)
	}
	for _, ch := range chains {
		if len(ch.Certificates) != 2 || len(ch.PEM) == 0 {
			t.Errorf("chain %s has %d certs", ch.URL, len(ch.Certificates))
		}
	}
	if chains[0].Certificates[1].Subject.CommonName == chains[1].Certificates[1].Subject.CommonName {
		t.Error("alternate chain has the same issuer")
	}
	leaf := chains[0].Certificates[0]
	if err := c.RevokeCertificate(ctx, acct, leaf.Raw, ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeCertificateWithKey(ctx, ecKey(t, elliptic.P256()), leaf.Raw, ReasonKeyCompromise); !hasProblem(err, isType(ProblemAlreadyRevoked)) {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := c.DeactivateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetAccount(ctx, acct); !IsUnauthorized(err) {
		t.Fatalf("deactivated account still works: %v", err)
	}
	if endpoints[0] != "directory" || endpoints[1] != "newNonce" {
		t.Errorf("first requests %v", endpoints[:2])
	}
	if n := s.count("newNonce"); n != 1 {
		t.Errorf("%d newNonce requests, want 1 (pool)", n)
	}
}

func mustThumb(t *testing.T, pub crypto.PublicKey) string {
	tp, err := Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}
