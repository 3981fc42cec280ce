package issue

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/keys"
)

// The common names of the fake CA's roots: the default chain's and the
// first alternate's.
const (
	defaultRoot   = "acmetest fake root 0"
	alternateRoot = "acmetest fake root 1"
)

// otherKey certifies another key than the CSR's.
func otherKey(is *acmetest.Issuance) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	is.PublicKey = k.Public()
}

// TestWrongCertificateRefused: a CA that issues something other than what
// was ordered gets no certificate stored: Obtain returns a
// *BadCertificateError and no Certificate.
func TestWrongCertificateRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  acmetest.CAOptions
		want  string
		check func(*testing.T, *BadCertificateError)
	}{
		{"leaf lacks a name", acmetest.CAOptions{Misissue: func(is *acmetest.Issuance) {
			is.Template.DNSNames = slices.DeleteFunc(is.Template.DNSNames, func(n string) bool { return n == "h2.example.test" })
		}}, "the leaf lacks dns h2.example.test",
			func(t *testing.T, e *BadCertificateError) {
				if len(e.Missing) != 1 || e.Missing[0].Value != "h2.example.test" || len(e.Extra) != 0 {
					t.Errorf("Missing %v, Extra %v", e.Missing, e.Extra)
				}
			}},
		{"leaf has a name not ordered", acmetest.CAOptions{Misissue: func(is *acmetest.Issuance) {
			is.Template.DNSNames = append(is.Template.DNSNames, "evil.example.test")
		}}, "the leaf names dns evil.example.test, which were not ordered",
			func(t *testing.T, e *BadCertificateError) {
				if len(e.Extra) != 1 || e.Extra[0].Value != "evil.example.test" {
					t.Errorf("Extra %v", e.Extra)
				}
			}},
		{"leaf for another key", acmetest.CAOptions{Misissue: otherKey}, "another public key", nil},
		{"intermediate did not sign the leaf", acmetest.CAOptions{Misissue: func(is *acmetest.Issuance) { is.BrokenChains = []int{0} }},
			"is not signed by certificate 1", nil},
		{"preferred alternate chain broken", acmetest.CAOptions{AlternateChains: 1, Misissue: func(is *acmetest.Issuance) { is.BrokenChains = []int{1} }},
			"is not signed by certificate 1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ca := newTestCA(t, tt.opts)
			is, _ := ca.issuer(acme.ChallengeHTTP01)
			req := Request{Identifiers: mustIDs(t, "h1.example.test", "h2.example.test")}
			if tt.opts.AlternateChains > 0 {
				req.PreferredChain = alternateRoot
			}
			cert, err := is.Obtain(ctxFor(t, 30*time.Second), req)
			if cert != nil {
				t.Fatalf("a certificate was returned with error %v", err)
			}
			var be *BadCertificateError
			if !errors.As(err, &be) {
				t.Fatalf("got %v, want a *BadCertificateError", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "/cert/") {
				t.Errorf("error %q does not say %q and the chain's URL", err, tt.want)
			}
			if tt.check != nil {
				tt.check(t, be)
			}
		})
	}
}

// TestUserCSRCertificateChecked: with a CSR given, the leaf must certify
// the CSR's key.
func TestUserCSRCertificateChecked(t *testing.T) {
	t.Parallel()
	key, _ := keys.Generate(keys.EC256)
	ids := mustIDs(t, "csr.example.test", "192.0.2.7", "2001:db8::7")
	csr, err := NewCSR(key, ids)
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t, acmetest.CAOptions{})
	is, _ := ca.issuer(acme.ChallengeHTTP01)
	cert, err := is.Obtain(ctxFor(t, 30*time.Second), Request{Identifiers: ids, CSR: csr})
	if err != nil {
		t.Fatalf("a right certificate for a CSR: %v", err)
	}
	if cert.Key != nil || !key.Public().(*ecdsa.PublicKey).Equal(cert.Leaf.PublicKey) {
		t.Error("the certificate is not for the CSR's key")
	}

	ca = newTestCA(t, acmetest.CAOptions{Misissue: otherKey})
	is, _ = ca.issuer(acme.ChallengeHTTP01)
	cert, err = is.Obtain(ctxFor(t, 30*time.Second), Request{Identifiers: ids, CSR: csr})
	var be *BadCertificateError
	if cert != nil || !errors.As(err, &be) || !strings.Contains(err.Error(), "another public key") {
		t.Fatalf("got %v, %v; want a *BadCertificateError about the key", cert, err)
	}
}

// TestAlternateChains: a right alternate is chosen when preferred; a
// broken one the caller did not choose is dropped, not returned.
func TestAlternateChains(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, acmetest.CAOptions{AlternateChains: 1})
	is, _ := ca.issuer(acme.ChallengeHTTP01)
	cert, err := is.Obtain(ctxFor(t, 30*time.Second), Request{Identifiers: mustIDs(t, "alt.example.test"), PreferredChain: alternateRoot})
	if err != nil {
		t.Fatal(err)
	}
	if got := cert.Chain.Certificates[1].Issuer.CommonName; got != alternateRoot || len(cert.Chains) != 2 {
		t.Errorf("chose the chain to %q of %d, want the alternate of 2", got, len(cert.Chains))
	}

	ca = newTestCA(t, acmetest.CAOptions{AlternateChains: 1, Misissue: func(is *acmetest.Issuance) { is.BrokenChains = []int{1} }})
	is, _ = ca.issuer(acme.ChallengeHTTP01)
	cert, err = is.Obtain(ctxFor(t, 30*time.Second), Request{Identifiers: mustIDs(t, "alt.example.test")})
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Chains) != 1 || cert.Chains[0].URL != cert.Chain.URL || cert.Chain.Certificates[1].Issuer.CommonName != defaultRoot {
		t.Errorf("Chains %d, chosen %s: the broken alternate was kept", len(cert.Chains), cert.Chain.URL)
	}
}

// TestVerifyChainNames checks the comparison itself: sets, case-blind,
// wildcards literal, addresses as addresses.
func TestVerifyChainNames(t *testing.T) {
	t.Parallel()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"}, NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := func(dns []string, ips ...string) acme.Chain {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotAfter: time.Now().Add(time.Hour), DNSNames: dns}
		for _, ip := range ips {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return acme.Chain{URL: "https://ca.example/cert/1", Certificates: []*x509.Certificate{c, ca}}
	}
	ids := mustIDs(t, "www.example.com", "*.example.com", "192.0.2.1", "2001:db8::1")
	ok := []acme.Chain{
		leaf([]string{"WWW.Example.COM", "*.EXAMPLE.com"}, "192.0.2.1", "2001:db8::1"),
		leaf([]string{"*.example.com", "www.example.com", "www.example.com"}, "::ffff:192.0.2.1", "2001:0db8::0001"),
	}
	for i, c := range ok {
		if err := verifyChain(c, ids, key.Public()); err != nil {
			t.Errorf("chain %d: %v", i, err)
		}
	}
	bad := map[string]acme.Chain{
		"the leaf lacks dns *.example.com": leaf([]string{"www.example.com", "a.example.com"}, "192.0.2.1", "2001:db8::1"),
		"the leaf lacks ip 2001:db8::1":    leaf([]string{"www.example.com", "*.example.com"}, "192.0.2.1"),
		"ip 192.0.2.2":                     leaf([]string{"www.example.com", "*.example.com"}, "192.0.2.1", "192.0.2.2", "2001:db8::1"),
		"dns 192.0.2.1":                    leaf([]string{"www.example.com", "*.example.com", "192.0.2.1"}, "2001:db8::1"),
	}
	for want, c := range bad {
		if err := verifyChain(c, ids, key.Public()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error saying %q", err, want)
		}
	}
	// Chain order matters: the CA's certificate first is no chain.
	c := ok[0]
	c.Certificates = []*x509.Certificate{c.Certificates[0], c.Certificates[0]}
	if err := verifyChain(c, ids, key.Public()); err == nil || !strings.Contains(err.Error(), "issued by") {
		t.Errorf("a leaf followed by itself: %v", err)
	}
}
