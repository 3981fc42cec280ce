package autotls_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/autotls"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
)

// managerWithNames returns a manager holding nCerts certificates of
// perCert names each ("n<i>.c<j>.example"), loaded from a memory store
// without any CA.
func managerWithNames(tb testing.TB, nCerts, perCert int) (*manager.Manager, []string) {
	tb.Helper()
	ctx := context.Background()
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		tb.Fatal(err)
	}
	keyPEM, err := keys.MarshalPEM(key)
	if err != nil {
		tb.Fatal(err)
	}
	const ca = "https://ca.invalid/directory"
	st := store.NewMemory()
	certs := &store.Certs{Store: st}
	is := &issue.Issuer{Client: &acme.Client{DirectoryURL: ca}}
	var (
		all     []string
		managed []manager.Spec
	)
	for j := range nCerts {
		names := make([]string, perCert)
		for i := range names {
			names[i] = fmt.Sprintf("n%d.c%d.example", i, j)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(j + 1)),
			Subject:      pkix.Name{CommonName: names[0]},
			DNSNames:     names,
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(90 * 24 * time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			tb.Fatal(err)
		}
		chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		if err := certs.SaveCertificate(ctx, store.CertRecord{Name: names[0], Identifiers: names, CA: ca, ChainPEM: chain, KeyPEM: keyPEM}); err != nil {
			tb.Fatal(err)
		}
		ids, err := issue.ParseIdentifiers(names...)
		if err != nil {
			tb.Fatal(err)
		}
		managed = append(managed, manager.Spec{Identifiers: ids, Issuer: is})
		all = append(all, names...)
	}
	m, err := manager.New(manager.Config{Store: st})
	if err != nil {
		tb.Fatal(err)
	}
	if err := m.Manage(ctx, managed...); err != nil {
		tb.Fatal(err)
	}
	return m, all
}

// BenchmarkGetCertificate answers handshakes for 100,000 managed names
// (1,000 certificates of 100 names), through the tls.Config that a server
// uses (with its tls-alpn-01 check) and through Config.GetCertificate;
// Lookup is the manager's own map lookup under it, for comparison. "all"
// cycles through the 100,000 names, so nearly every lookup misses the CPU
// caches; "hot" cycles through 1,000 of them, as a server whose traffic
// goes mostly to some of its names.
func BenchmarkGetCertificate(b *testing.B) {
	m, names := managerWithNames(b, 1000, 100)
	cfg := &autotls.Config{Manager: m}
	hellos := make([]*tls.ClientHelloInfo, len(names))
	for i, n := range names {
		hellos[i] = &tls.ClientHelloInfo{ServerName: n, SupportedProtos: []string{"h2", "http/1.1"}}
	}
	hot := make([]*tls.ClientHelloInfo, 0, 1000)
	for i := 0; i < len(hellos); i += 100 {
		hot = append(hot, hellos[i])
	}
	lookup := func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return m.Lookup(h.ServerName), nil }
	for _, bc := range []struct {
		name string
		get  func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	}{
		{"TLSConfig", cfg.TLSConfig().GetCertificate},
		{"GetCertificate", cfg.GetCertificate},
		{"Lookup", lookup},
	} {
		for _, set := range []struct {
			name   string
			hellos []*tls.ClientHelloInfo
		}{{"all", hellos}, {"hot", hot}} {
			b.Run(bc.name+"/"+set.name, func(b *testing.B) {
				b.ReportAllocs()
				hs := set.hellos
				i := 0
				for b.Loop() {
					c, err := bc.get(hs[i])
					if err != nil || c == nil {
						b.Fatal(err)
					}
					i++
					if i == len(hs) {
						i = 0
					}
				}
			})
		}
	}
}

func TestGetCertificateDoesNotAllocate(t *testing.T) {
	m, names := managerWithNames(t, 10, 10)
	cfg := &autotls.Config{Manager: m}
	get := cfg.TLSConfig().GetCertificate
	hello := &tls.ClientHelloInfo{ServerName: names[42], SupportedProtos: []string{"h2"}}
	upper := &tls.ClientHelloInfo{ServerName: "N1.C2.Example."}
	for _, h := range []*tls.ClientHelloInfo{hello, upper} {
		if n := testing.AllocsPerRun(1000, func() {
			if c, err := get(h); err != nil || c == nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("GetCertificate(%q) allocates %v times", h.ServerName, n)
		}
	}
}
