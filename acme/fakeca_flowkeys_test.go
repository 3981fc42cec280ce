package acme_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
)

// TestFlow runs an order from account to revocation, with every key type.
func TestFlow(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, key := range map[string]crypto.Signer{
		"ES256": newKey(t, elliptic.P256()), "ES384": newKey(t, elliptic.P384()),
		"ES512": newKey(t, elliptic.P521()), "RS256": rsaKey, "EdDSA": edKey,
	} {
		t.Run(name, func(t *testing.T) { testFlow(t, key) })
	}
}

func testFlow(t *testing.T, key crypto.Signer) {
	ca := acmetest.NewTestMemoryCA(t, acmetest.CAOptions{
		Profiles:          map[string]time.Duration{"classic": 90 * 24 * time.Hour, "shortlived": 6 * 24 * time.Hour},
		Challenges:        []acme.ChallengeType{acme.ChallengeHTTP01, acme.ChallengeDNS01, acme.ChallengeDNSPersist01},
		IssuerDomainNames: []string{"ca.example.test"},
		ProcessingPolls:   3,
		AlternateChains:   1,
	})
	c := memClient(ca)
	c.UserAgent = "flowtest/2"
	ctx := ctxOf(t)
	var endpoints []string
	c.OnRequest = func(ri acme.RequestInfo) { endpoints = append(endpoints, ri.Endpoint) }

	acct, err := c.NewAccount(ctx, acme.Account{Key: key, Contact: []string{"mailto:a@example.test"}, TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(acct.URL, acmetest.MemoryCABase+"/acct/") || acct.Status != acme.StatusValid || mustThumb(t, acct.Key.Public()) != mustThumb(t, key.Public()) || acct.OrdersURL == "" {
		t.Fatalf("account = %+v", acct)
	}
	again, err := c.NewAccount(ctx, acme.Account{Key: key})
	if err != nil || again.URL != acct.URL {
		t.Fatalf("re-register: %v %+v", err, again)
	}
	if got, err := c.GetAccount(ctx, acct); err != nil || got.Contact[0] != "mailto:a@example.test" {
		t.Fatalf("GetAccount: %v %+v", err, got)
	}
	acct.Contact = []string{"mailto:b@example.test"}
	if got, err := c.UpdateAccount(ctx, acct); err != nil || len(got.Contact) != 1 || got.Contact[0] != "mailto:b@example.test" {
		t.Fatalf("UpdateAccount: %v %+v", err, got)
	}

	// A certificate for the order to replace (RFC 9773 §5): the CA
	// checks that it names one of the account's.
	prevID, err := acme.ARICertID(issued(t, c, acct))
	if err != nil {
		t.Fatal(err)
	}
	ids := []acme.Identifier{acme.DNSIdentifier("example.test"), acme.IPIdentifier(netip.MustParseAddr("2001:db8::1"))}
	o, err := c.NewOrder(ctx, acct, ids, acme.WithProfile("shortlived"), acme.WithReplaces(prevID), acme.WithNotAfter(time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != acme.StatusPending || len(o.Authorizations) != 2 || o.Profile != "shortlived" || o.Replaces != prevID || o.Identifiers[1].Value != "2001:db8::1" {
		t.Fatalf("order = %+v", o)
	}
	// Held, an accepted challenge stays processing until approved.
	ca.HoldValidations()
	for _, u := range o.Authorizations {
		az, err := c.GetAuthorization(ctx, acct, u)
		if err != nil {
			t.Fatal(err)
		}
		var http01 acme.Challenge
		for _, ch := range az.Challenges {
			if ch.Identifier != az.Identifier || ch.AccountURL != acct.URL || !strings.HasPrefix(ch.KeyAuthorization, ch.Token+".") {
				t.Errorf("challenge fields not filled: %+v", ch)
			}
			if ch.Type == acme.ChallengeDNSPersist01 && (len(ch.IssuerDomainNames) != 1 || ch.IssuerDomainNames[0] != "ca.example.test") {
				t.Errorf("dns-persist-01 issuer-domain-names = %v", ch.IssuerDomainNames)
			}
			if ch.Type == acme.ChallengeHTTP01 {
				http01 = ch
			}
		}
		got, err := c.AcceptChallenge(ctx, acct, http01)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != acme.StatusProcessing || got.Identifier != http01.Identifier || got.KeyAuthorization != http01.KeyAuthorization {
			t.Errorf("accepted = %+v", got)
		}
		held, err := ca.NextHeld(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held.Approve()
		if az, err = c.WaitAuthorization(ctx, acct, u); err != nil || az.Status != acme.StatusValid {
			t.Fatalf("WaitAuthorization: %v %+v", err, az)
		}
	}
	o, err = c.WaitOrder(ctx, acct, o.URL)
	if err != nil || o.Status != acme.StatusReady {
		t.Fatalf("WaitOrder: %v %+v", err, o)
	}
	certKey := newKey(t, elliptic.P256())
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"example.test"}, IPAddresses: []net.IP{net.ParseIP("2001:db8::1")}}, certKey)
	if err != nil {
		t.Fatal(err)
	}
	fo, err := c.FinalizeOrder(ctx, acct, o, csr)
	if err != nil {
		t.Fatal(err)
	}
	if fo.URL != o.URL || fo.Status != acme.StatusProcessing {
		t.Fatalf("finalized = %+v", fo)
	}
	o, err = c.WaitOrder(ctx, acct, o.URL)
	if err != nil || o.Status != acme.StatusValid || o.CertificateURL == "" {
		t.Fatalf("WaitOrder: %v %+v", err, o)
	}
	chains, err := c.GetCertificateChains(ctx, acct, o.CertificateURL)
	if err != nil {
		t.Fatal(err)
	}
	if len(chains) != 2 || chains[0].URL != o.CertificateURL || chains[1].URL != o.CertificateURL+"/1" {
		t.Fatalf("chains: %d %+v", len(chains), chains)
	}
	for _, ch := range chains {
		if len(ch.Certificates) != 2 || len(ch.PEM) == 0 {
			t.Errorf("chain %s has %d certs", ch.URL, len(ch.Certificates))
		}
	}
	if chains[0].Certificates[1].Issuer.CommonName == chains[1].Certificates[1].Issuer.CommonName {
		t.Error("alternate chain has the same issuer")
	}
	leaf := chains[0].Certificates[0]
	if err := c.RevokeCertificate(ctx, acct, leaf.Raw, acme.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeCertificateWithKey(ctx, certKey, leaf.Raw, acme.ReasonKeyCompromise); !isProblem(err, acme.ProblemAlreadyRevoked) {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := c.DeactivateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetAccount(ctx, acct); !acme.IsUnauthorized(err) {
		t.Fatalf("deactivated account still works: %v", err)
	}
	if endpoints[0] != "directory" || endpoints[1] != "newNonce" {
		t.Errorf("first requests %v", endpoints[:2])
	}
	if n := ca.Requests(acmetest.EndpointNewNonce); n != 1 {
		t.Errorf("%d newNonce requests, want 1 (pool)", n)
	}
}
