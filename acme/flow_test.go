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
	"errors"
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

func TestLookupAccount(t *testing.T) {
	s, c, acct := setup(t)
	_ = s
	got, err := c.LookupAccount(testCtx(t), acct.Key)
	if err != nil || got.URL != acct.URL {
		t.Fatalf("LookupAccount: %v %+v", err, got)
	}
	_, err = c.LookupAccount(testCtx(t), ecKey(t, elliptic.P256()))
	if !IsAccountDoesNotExist(err) {
		t.Fatalf("unknown key: %v", err)
	}
	var p *Problem
	if !errors.As(err, &p) || p.Status != 400 || !strings.Contains(p.Detail, "No account") {
		t.Fatalf("problem = %+v", p)
	}
	if IsRetryable(err) {
		t.Error("accountDoesNotExist is retryable")
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

func TestChangeKey(t *testing.T) {
	s, c, acct := setup(t)
	ctx := testCtx(t)
	newKey := ecKey(t, elliptic.P384())
	got, err := c.ChangeKey(ctx, acct, newKey)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != newKey || got.URL != acct.URL {
		t.Fatalf("ChangeKey = %+v", got)
	}
	inner, err := jose.ParseSigned(string(s.lastKeyChange), algs)
	if err != nil {
		t.Fatal(err)
	}
	h := inner.Signatures[0].Protected
	if h.JSONWebKey == nil || h.KeyID != "" || h.Nonce != "" || h.Algorithm != "ES384" || h.ExtraHeaders["url"] != s.url("/key-change") {
		t.Fatalf("inner header = %+v", h)
	}
	if thumbB64(h.JSONWebKey) != mustThumb(t, newKey.Public()) {
		t.Error("inner jwk is not the new key")
	}
	if _, err := inner.Verify(newKey.Public()); err != nil {
		t.Errorf("inner JWS not signed by new key: %v", err)
	}
	if _, err := c.LookupAccount(ctx, acct.Key); !IsAccountDoesNotExist(err) {
		t.Errorf("old key still finds the account: %v", err)
	}
	if a, err := c.GetAccount(ctx, got); err != nil || a.URL != acct.URL {
		t.Errorf("new key: %v", err)
	}
}

func TestChangeKeyResponseLost(t *testing.T) {
	s, c, acct := setup(t)
	s.addFault("keyChange", fault{hijackAfter: true})
	newKey := ecKey(t, elliptic.P256())
	got, err := c.ChangeKey(testCtx(t), acct, newKey)
	if err != nil || got.Key != newKey {
		t.Fatalf("ChangeKey: %v", err)
	}
	if n := s.count("keyChange"); n != 1 {
		t.Errorf("keyChange sent %d times; the lookup should have shown it took effect", n)
	}
}

func mustThumb(t *testing.T, pub crypto.PublicKey) string {
	tp, err := Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func TestWaitOrderInvalid(t *testing.T) {
	s, c, acct := setup(t)
	ctx := testCtx(t)
	s.failChallenge = &wireProblem{Type: ProblemCAA, Detail: `CAA record for example.org prevents issuance`, Status: 403}
	o, err := c.NewOrder(ctx, acct, []Identifier{DNSIdentifier("example.org")})
	if err != nil {
		t.Fatal(err)
	}
	az, _ := c.GetAuthorization(ctx, acct, o.Authorizations[0])
	if _, err := c.AcceptChallenge(ctx, acct, az.Challenges[1]); err != nil {
		t.Fatal(err)
	}
	az, err = c.WaitAuthorization(ctx, acct, o.Authorizations[0])
	var p *Problem
	if az.Status != StatusInvalid || !errors.As(err, &p) || p.Type != ProblemCAA {
		t.Fatalf("WaitAuthorization: %v %+v", err, az)
	}
	got, err := c.WaitOrder(ctx, acct, o.URL)
	if got.Status != StatusInvalid || got.URL != o.URL {
		t.Fatalf("order = %+v", got)
	}
	var oe *OrderError
	if !errors.As(err, &oe) {
		t.Fatalf("err = %T %v", err, err)
	}
	if len(oe.Authorizations) != 1 || oe.Problem == nil || oe.Problem.Type != ProblemUnauthorized {
		t.Errorf("OrderError = %+v", oe)
	}
	if !strings.Contains(err.Error(), "CAA record for example.org prevents issuance") || !strings.Contains(err.Error(), "dns-01") {
		t.Errorf("Error() does not quote the CA: %s", err)
	}
	if !IsCAA(err) {
		t.Error("IsCAA(OrderError) = false")
	}
	p = nil
	if !errors.As(err, &p) {
		t.Error("errors.As(*Problem) fails")
	}
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

func TestWaitOrderContext(t *testing.T) {
	s, c, acct := setup(t)
	_ = s
	o, _ := c.NewOrder(testCtx(t), acct, []Identifier{DNSIdentifier("example.org")})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	got, err := c.WaitOrder(ctx, acct, o.URL)
	if !errors.Is(err, context.DeadlineExceeded) || got.Status != StatusPending {
		t.Fatalf("WaitOrder on a pending order: %v %+v", err, got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v past the deadline", d)
	}
}

func TestDeactivateAuthorization(t *testing.T) {
	_, c, acct := setup(t)
	ctx := testCtx(t)
	o, _ := c.NewOrder(ctx, acct, []Identifier{DNSIdentifier("example.org")})
	az, err := c.DeactivateAuthorization(ctx, acct, o.Authorizations[0])
	if err != nil || az.Status != StatusDeactivated || az.Challenges[0].KeyAuthorization == "" {
		t.Fatalf("%v %+v", err, az)
	}
	if _, err := c.WaitAuthorization(ctx, acct, o.Authorizations[0]); err == nil {
		t.Error("WaitAuthorization on a deactivated authz returned nil")
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

func TestNewOrderRejectsEmpty(t *testing.T) {
	_, c, acct := setup(t)
	for _, ids := range [][]Identifier{nil, {DNSIdentifier("")}, {IPIdentifier(netip.Addr{})}} {
		if _, err := c.NewOrder(testCtx(t), acct, ids); err == nil {
			t.Errorf("NewOrder(%v) succeeded", ids)
		}
	}
	if id := IPIdentifier(netip.MustParseAddr("::ffff:192.0.2.1")); id.Value != "192.0.2.1" || id.Type != IdentifierIP {
		t.Errorf("IPIdentifier = %+v", id)
	}
}
