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
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
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

func setup(t *testing.T) (*stub, *Client, Account) {
	t.Helper()
	s := newStub()
	t.Cleanup(s.Close)
	c := s.client()
	acct, err := c.NewAccount(testCtx(t), Account{Key: ecKey(t, elliptic.P256()), Contact: []string{"mailto:a@example.org"}, TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, acct
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

func TestDirectory(t *testing.T) {
	s := newStub()
	defer s.Close()
	s.eabKey = []byte("k")
	c := s.client()
	var mu sync.Mutex
	var infos []RequestInfo
	c.OnRequest = func(ri RequestInfo) { mu.Lock(); infos = append(infos, ri); mu.Unlock() }
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := c.Directory(testCtx(t)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	d, err := c.Directory(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if n := s.count("directory"); n != 1 {
		t.Errorf("directory fetched %d times, want 1 (cached)", n)
	}
	if d.RevokeCert != s.url("/revoke") {
		t.Errorf("relative revokeCert not resolved: %q", d.RevokeCert)
	}
	if d.RenewalInfo != s.url("/ari/") || d.KeyChange == "" || d.NewNonce == "" {
		t.Errorf("directory = %+v", d)
	}
	m := d.Meta
	if !m.ExternalAccountRequired || m.TermsOfService != "https://example.com/tos" || m.Website == "" ||
		len(m.CAAIdentities) != 2 || m.Profiles["shortlived"] != "6 days" || len(m.Profiles) != 2 {
		t.Errorf("meta = %+v", m)
	}
	if len(infos) != 1 || infos[0].Endpoint != "directory" || infos[0].Status != 200 || infos[0].Method != "GET" {
		t.Errorf("OnRequest got %+v", infos)
	}
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

func TestExternalAccountBinding(t *testing.T) {
	s := newStub()
	defer s.Close()
	s.eabKey = []byte("a secret MAC key of 32 bytes....")
	c := s.client()
	key := ecKey(t, elliptic.P256())
	if _, err := c.NewAccount(testCtx(t), Account{Key: key}); !hasProblem(err, isType(ProblemExternalAccountRequired)) {
		t.Fatalf("without EAB: %v", err)
	}
	acct, err := c.NewAccount(testCtx(t), Account{Key: key}, WithExternalAccountBinding("kid-1", s.eabKey))
	if err != nil {
		t.Fatal(err)
	}
	// Check the binding independently of the stub.
	eab, err := jose.ParseSigned(string(s.lastEAB), []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := eab.Verify(s.eabKey)
	if err != nil {
		t.Fatalf("EAB does not verify with the MAC key: %v", err)
	}
	h := eab.Signatures[0].Protected
	if h.Algorithm != "HS256" || h.KeyID != "kid-1" || h.ExtraHeaders["url"] != s.url("/new-acct") || h.Nonce != "" || h.JSONWebKey != nil {
		t.Errorf("EAB header = %+v", h)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(payload); err != nil {
		t.Fatal(err)
	}
	if tp, _ := Thumbprint(key.Public()); thumbB64(&jwk) != tp {
		t.Error("EAB payload is not the account key")
	}
	if _, err := eab.Verify([]byte("wrong key")); err == nil {
		t.Error("EAB verifies with the wrong key")
	}
	if acct.URL == "" {
		t.Error("no account URL")
	}
}

func thumbB64(k *jose.JSONWebKey) string {
	tp, _ := Thumbprint(k.Key)
	return tp
}

func mustThumb(t *testing.T, pub crypto.PublicKey) string {
	tp, err := Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func TestWaitAuthorizationRetryAfter(t *testing.T) {
	s, c, acct := setup(t)
	ctx := testCtx(t)
	s.pendingPolls = 1
	s.pollRetryAfter = "1"
	o, _ := c.NewOrder(ctx, acct, []Identifier{DNSIdentifier("example.org")})
	az, _ := c.GetAuthorization(ctx, acct, o.Authorizations[0])
	if _, err := c.AcceptChallenge(ctx, acct, az.Challenges[0]); err != nil {
		t.Fatal(err)
	}
	before := len(s.timesOf("authz"))
	az, err := c.WaitAuthorization(ctx, acct, o.Authorizations[0])
	if err != nil || az.Status != StatusValid {
		t.Fatalf("%v %+v", err, az)
	}
	ts := s.timesOf("authz")[before:]
	if len(ts) != 2 {
		t.Fatalf("%d polls, want 2", len(ts))
	}
	if d := ts[1].Sub(ts[0]); d < time.Second {
		t.Errorf("polled again after %v, before Retry-After: 1", d)
	}
}

func TestRenewalInfo(t *testing.T) {
	s := newStub()
	defer s.Close()
	c := s.client()
	chain, _ := parseChain(s.chainPEM)
	ri, err := c.RenewalInfo(testCtx(t), chain[0])
	if err != nil {
		t.Fatal(err)
	}
	if !ri.SuggestedWindow.Start.Equal(time.Date(2025, 1, 2, 4, 0, 0, 0, time.UTC)) || ri.ExplanationURL != "https://example.com/ari/AQIDBA.AIdlQyE" {
		t.Errorf("renewal info = %+v", ri)
	}
	if d := time.Until(ri.RetryAfter); d < 6*time.Hour-time.Minute || d > 6*time.Hour {
		t.Errorf("default RetryAfter in %v, want 6h", d)
	}
	s.ariRetryAfter = "120"
	ri, _ = c.RenewalInfo(testCtx(t), chain[0])
	if d := time.Until(ri.RetryAfter); d < time.Minute || d > 2*time.Minute {
		t.Errorf("RetryAfter in %v, want 2m", d)
	}
}

// readyOrder places an order for example.org on the stub and has it
// validated: it is ready for finalize.
func readyOrder(t *testing.T, c *Client, acct Account) Order {
	t.Helper()
	ctx := testCtx(t)
	o, err := c.NewOrder(ctx, acct, []Identifier{DNSIdentifier("example.org")})
	if err != nil {
		t.Fatal(err)
	}
	az, _ := c.GetAuthorization(ctx, acct, o.Authorizations[0])
	if _, err := c.AcceptChallenge(ctx, acct, az.Challenges[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitAuthorization(ctx, acct, az.URL); err != nil {
		t.Fatal(err)
	}
	o, err = c.WaitOrder(ctx, acct, o.URL)
	if err != nil || o.Status != StatusReady {
		t.Fatalf("%v %+v", err, o)
	}
	return o
}
