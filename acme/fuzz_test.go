package acme

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets cover every parser of data a server sends. They check
// that parsing never panics and that what it accepts is consistent.

func FuzzParseProblem(f *testing.F) {
	f.Add([]byte(`{"type":"urn:ietf:params:acme:error:badNonce","detail":"x","status":400}`))
	f.Add([]byte(`{"type":"urn:ietf:params:acme:error:compound","subproblems":[{"type":"urn:ietf:params:acme:error:caa","identifier":{"type":"dns","value":"a"},"subproblems":[{}]}]}`))
	f.Add([]byte(`<html>502</html>`))
	f.Add([]byte(`{"status":"400"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &response{status: 500, header: http.Header{"Retry-After": {"5"}}, body: b}
		p := responseProblem(r, time.Unix(0, 0))
		if p == nil || p.Status == 0 {
			t.Fatalf("problem = %+v", p)
		}
		if _, err := parseProblem(b); err != nil && (len(p.Detail) > maxProblemDetail+len("…") || !utf8.ValidString(p.Detail)) {
			t.Fatalf("detail from a non-JSON body: %q", p.Detail)
		}
		_ = p.Error()
		_ = IsCAA(p)
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "Sat, 01 Mar 2025 12:00:30 GMT", "Saturday, 01-Mar-25 12:00:30 GMT", "Sat Mar  1 12:00:30 2025", "-1", "99999999999999999999", ""} {
		f.Add(s)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseRetryAfter(s, now)
		if !ok && !got.IsZero() {
			t.Fatalf("invalid %q gave %v", s, got)
		}
		if ok && s != "" && s[0] >= '0' && s[0] <= '9' && got.Before(now) {
			t.Fatalf("delta-seconds %q went back in time: %v", s, got)
		}
	})
}

func FuzzParseLinks(f *testing.F) {
	f.Add(`<https://a/1>;rel="alternate", <https://a/2>; rel=up; title="a,b"`)
	f.Add(`<x>;rel="a\"b`)
	f.Add(`garbage,<`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, l := range parseLinks([]string{s, s}) {
			for _, r := range l.Rels {
				if r == "" {
					t.Fatal("empty rel")
				}
			}
		}
	})
}

func FuzzParseDirectory(f *testing.F) {
	f.Add([]byte(`{"newNonce":"https://a/n","newAccount":"https://a/a","newOrder":"https://a/o","renewalInfo":"https://a/r","meta":{"profiles":{"a":"b"},"caaIdentities":["a"],"externalAccountRequired":true}}`))
	f.Add([]byte(`{"meta":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseDirectory(b)
		if err == nil && (d.NewNonce == "" || d.NewOrder == "") {
			t.Fatalf("accepted directory without required URLs: %+v", d)
		}
	})
}

func FuzzParseOrder(f *testing.F) {
	f.Add([]byte(`{"status":"pending","expires":"2030-01-01T00:00:00Z","identifiers":[{"type":"dns","value":"a"}],"authorizations":["https://a/z/1"],"finalize":"https://a/f","error":{"type":"x","subproblems":[{}]}}`))
	f.Add([]byte(`{"status":"valid","certificate":"https://a/c","notBefore":"bad"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := parseOrder(b, "https://a/o/1")
		if err == nil && (o.Status == "" || o.URL != "https://a/o/1") {
			t.Fatalf("order = %+v", o)
		}
	})
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add([]byte(`{"status":"pending","identifier":{"type":"dns","value":"a"},"wildcard":true,"challenges":[{"type":"dns-01","url":"https://a/c","status":"pending","token":"t"},{"type":"dns-persist-01","issuer-domain-names":["ca"],"error":{"type":"caa"}}]}`))
	f.Add([]byte(`{"status":"invalid","challenges":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAuthorization(b, "https://a/z/1")
		if err == nil && a.Status == "" {
			t.Fatalf("authz = %+v", a)
		}
		_, _ = parseChallenge(b, "https://a/c/1")
	})
}

func FuzzParseRenewalInfo(f *testing.F) {
	f.Add([]byte(`{"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00Z"},"explanationURL":"https://a"}`))
	f.Add([]byte(`{"suggestedWindow":{"start":"2025-01-03T04:00:00Z","end":"2025-01-02T04:00:00Z"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ri, err := parseRenewalInfo(b)
		if err == nil && ri.SuggestedWindow.End.Before(ri.SuggestedWindow.Start) {
			t.Fatalf("inverted window accepted: %+v", ri)
		}
	})
}

func FuzzParseChain(f *testing.F) {
	chain, alt := makeChains()
	f.Add(chain)
	f.Add(alt)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := parseChain(b)
		if err == nil && len(certs) == 0 {
			t.Fatal("empty chain accepted")
		}
	})
}

// makeChains returns a leaf + intermediate PEM chain and an alternate one
// with a different intermediate.
func makeChains() (chain, alt []byte) {
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mk := func(cn string) ([]byte, []byte) {
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ca := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
			SubjectKeyId: []byte{1, 2, 3, 4},
		}
		caDER, _ := x509.CreateCertificate(rand.Reader, ca, ca, caKey.Public(), caKey)
		caCert, _ := x509.ParseCertificate(caDER)
		leaf := &x509.Certificate{
			SerialNumber: big.NewInt(0x87654321), Subject: pkix.Name{CommonName: "example.test"},
			DNSNames:  []string{"example.test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		}
		leafDER, _ := x509.CreateCertificate(rand.Reader, leaf, caCert, leafKey.Public(), caKey)
		return leafDER, caDER
	}
	l1, c1 := mk("Fuzz Root X")
	l2, c2 := mk("Fuzz Root Y")
	enc := func(ders ...[]byte) []byte {
		var b bytes.Buffer
		for _, d := range ders {
			pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: d})
		}
		return b.Bytes()
	}
	return enc(l1, c1), enc(l2, c2)
}
