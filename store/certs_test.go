package store

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/keys"
)

// testCert makes a self-signed certificate for names plus a second
// certificate standing in for an intermediate.
func testCert(t testing.TB, names ...string) (keyPEM, chainPEM []byte) {
	t.Helper()
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(90 * 24 * time.Hour),
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	leaf, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.Subject.CommonName = "Test Intermediate"
	inter, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err = keys.MarshalPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return keyPEM, keys.EncodeCertificates(leaf, inter)
}

func TestEncodeName(t *testing.T) {
	for _, tt := range []struct{ name, enc, back string }{
		{"www.example.com", "www.example.com", ""},
		{"WWW.Example.COM.", "www.example.com", "www.example.com"},
		{"*.example.com", "_wildcard_.example.com", ""},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", ""},
		{"_acme-challenge.example.com", "_acme-challenge.example.com", ""},
		{"192.0.2.1", "192.0.2.1", ""},
		{"2001:DB8:0::1", "2001=db8==1", "2001:db8::1"},
	} {
		enc, err := EncodeName(tt.name)
		if err != nil || enc != tt.enc {
			t.Errorf("EncodeName(%q) = %q, %v; want %q", tt.name, enc, err, tt.enc)
			continue
		}
		want := tt.back
		if want == "" {
			want = tt.name
		}
		if back, err := DecodeName(enc); err != nil || back != want {
			t.Errorf("DecodeName(%q) = %q, %v; want %q", enc, back, err, want)
		}
	}
	for _, bad := range []string{"", ".", "*", "a.*.example.com", "**.example.com", "_wildcard_.example.com",
		"b\u00fccher.example", "ｅxample.com", "exa\u202emple.com", "a/b", "../x", "a b", "fe80::1%eth0", "a=b", ".example.com",
		strings.Repeat("a", 256)} {
		if enc, err := EncodeName(bad); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("EncodeName(%q) = %q, %v; want ErrInvalidKey", bad, enc, err)
		}
	}
	for _, bad := range []string{"WWW.example.com", "a=b", "_wildcard_", "x.pem/y", "::1"} {
		if n, err := DecodeName(bad); err == nil {
			t.Errorf("DecodeName(%q) = %q, want error", bad, n)
		}
	}
}

func TestCADirName(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"https://acme-v02.api.letsencrypt.org/directory", "acme-v02.api.letsencrypt.org_directory"},
		{"https://ACME.example.com:443/dir", "acme.example.com_dir"},
		{"https://127.0.0.1:14000/dir", "127.0.0.1-14000_dir"},
		{"https://ca.example.test/a/directory", "ca.example.test_a_directory"},
		{"https://ca.example.test/b/directory", "ca.example.test_b_directory"},
		{"https://ca.example.test", "ca.example.test"},
		{"https://ca.example.test/", "ca.example.test"},
		{"https://ca.example.test/acme/Prov-1/directory", "ca.example.test_acme_Prov-1_directory"},
		// Lossy readable forms carry a hash of the normalized URL.
		{"https://localhost:14000/other/path?x=1", "localhost-14000_other_path+7265f972"},
		{"https://[::1]:14000/dir", "--1-14000_dir+95429408"},
		{"http://user:pw@ca.test:80/", "ca.test+b870d25e"},
	} {
		if got, err := CADirName(tt.url); err != nil || got != tt.want {
			t.Errorf("CADirName(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
		}
	}
	// Distinct normalized URLs give distinct components, however alike
	// their readable forms.
	seen := map[string]string{}
	for _, u := range []string{
		"https://ca.test/a/b", "https://ca.test/a_b", "https://ca.test/a/b/", "https://ca.test//a/b",
		"https://ca.test/a%20b", "https://ca.test/a-b", "https://ca.test/a+b", "https://ca.test/a/b?x",
		"https://ca.test/a/b?", "http://ca.test/a/b", "https://ca-8443/a", "https://ca:8443/a",
		"https://ca.test/A/b", "https://u@ca.test/a/b", "https://ca_x/a", "https://ca/x_a",
		"https://ca.test/" + strings.Repeat("x", 300), "https://ca.test/" + strings.Repeat("x", 301),
	} {
		c, err := CADirName(u)
		if err != nil {
			t.Errorf("CADirName(%q): %v", u, err)
			continue
		}
		if prev, dup := seen[c]; dup {
			t.Errorf("CADirName(%q) = CADirName(%q) = %q", u, prev, c)
		}
		seen[c] = u
	}
	// Forms that normalize alike give one component.
	for _, same := range [][]string{
		{"https://ca.test/a/b", "HTTPS://CA.TEST:443/a/b", "https://ca.test./a/b#frag"},
		{"https://ca.test", "https://ca.test/"},
	} {
		want, _ := CADirName(same[0])
		for _, u := range same[1:] {
			if got, _ := CADirName(u); got != want {
				t.Errorf("CADirName(%q) = %q, want %q as for %q", u, got, want, same[0])
			}
		}
	}
	for _, bad := range []string{"", "acme.example.com", "/directory", "https://b\u00fccher.example/dir", "https://../x"} {
		if got, err := CADirName(bad); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("CADirName(%q) = %q, %v; want ErrInvalidKey", bad, got, err)
		}
	}
}

func TestCerts(t *testing.T) {
	for _, layout := range []Layout{LayoutStandard, LayoutShared} {
		for _, backend := range []string{"memory", "dir"} {
			t.Run(layout.String()+"/"+backend, func(t *testing.T) {
				var s Store = NewMemory()
				if backend == "dir" {
					s = newTestDir(t)
				}
				testCerts(t, &Certs{Store: s, Layout: layout})
			})
		}
	}
}

func testCerts(t *testing.T, c *Certs) {
	ctx := context.Background()
	const ca = "https://127.0.0.1:14000/dir"
	keyPEM, chainPEM := testCert(t, "*.example.com", "example.com", "192.0.2.1")
	want := CertRecord{
		Name:        "*.example.com",
		Identifiers: []string{"*.example.com", "example.com", "192.0.2.1"},
		CA:          ca,
		CertURL:     "https://127.0.0.1:14000/certZ/abc",
		Profile:     "tlsserver",
		ObtainedAt:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		KeyPEM:      keyPEM,
		ChainPEM:    chainPEM,
	}
	if _, err := c.LoadCertificate(ctx, ca, want.Name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load before Save: %v", err)
	}
	if err := c.SaveCertificate(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := c.LoadCertificate(ctx, ca, want.Name)
	if err != nil {
		t.Fatal(err)
	}
	if c.Layout == LayoutShared {
		// Only PEM data is kept; the rest comes from the certificate.
		if got.ObtainedAt.IsZero() {
			t.Error("ObtainedAt not filled in from the file")
		}
		want.CA, want.CertURL, want.Profile, want.ObtainedAt = "", "", "", got.ObtainedAt
		want.Identifiers = []string{"*.example.com", "example.com", "192.0.2.1"}
	}
	// The parsed forms come with the PEM data: the key and the leaf match.
	if got.Key == nil || len(got.Certificates) != 2 || !got.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(got.Certificates[0].PublicKey) {
		t.Errorf("Load parsed key %v and certificates %d", got.Key, len(got.Certificates))
	}
	got.Key, got.Certificates = nil, nil
	// The version read, as StoredVersion names it without reading it.
	wantVersion := 1
	if c.Layout == LayoutShared {
		wantVersion = 0
	}
	if n, err := c.StoredVersion(ctx, ca, want.Name); got.Version != wantVersion || n != wantVersion || err != nil {
		t.Errorf("Load's Version %d, StoredVersion %d, %v; want %d", got.Version, n, err, wantVersion)
	}
	want.Version = wantVersion
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %+v\nwant %+v", got, want)
	}
	want.Version = 0

	// A second certificate, from another CA in the standard layout, and
	// one saved from a CSR (no key).
	_, chain2 := testCert(t, "www.example.org")
	other := CertRecord{Name: "www.example.org", CA: "https://acme.example/dir", ChainPEM: chain2}
	if err := c.SaveCertificate(ctx, other); err != nil {
		t.Fatal(err)
	}
	all, err := c.ListCertificates(ctx, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("ListCertificates(all) = %d, %v", len(all), err)
	}
	one, err := c.ListCertificates(ctx, ca)
	wantN := 1
	if c.Layout == LayoutShared {
		wantN = 2 // no CA component
	}
	if err != nil || len(one) != wantN {
		t.Fatalf("ListCertificates(ca) = %d, %v; want %d", len(one), err, wantN)
	}
	if got, err := c.LoadCertificate(ctx, other.CA, other.Name); err != nil || got.KeyPEM != nil || !bytes.Equal(got.ChainPEM, chain2) {
		t.Errorf("Load of a keyless certificate = %+v, %v", got, err)
	}

	// A key that does not match is refused on save.
	bad := want
	bad.KeyPEM, _ = testCert(t, "x.example")
	if err := c.SaveCertificate(ctx, bad); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("Save with a foreign key: %v", err)
	}

	if err := c.DeleteCertificate(ctx, ca, want.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadCertificate(ctx, ca, want.Name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load after Delete: %v", err)
	}
	if err := c.DeleteCertificate(ctx, ca, want.Name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second Delete: %v", err)
	}

	// Accounts.
	acctKey, _ := testCert(t, "acct")
	if _, err := c.LoadAccount(ctx, ca, ""); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadAccount before Save: %v", err)
	}
	rec := AccountRecord{URL: "https://127.0.0.1:14000/my-account/1", KeyPEM: acctKey, Contact: []string{"mailto:ops@example.com"}}
	if err := c.SaveAccount(ctx, ca, "", rec); err != nil {
		t.Fatal(err)
	}
	gotAcct, err := c.LoadAccount(ctx, ca, "default")
	if err != nil {
		t.Fatal(err)
	}
	wantAcct := AccountRecord{CA: ca, ID: "default", URL: rec.URL, KeyPEM: acctKey, Contact: rec.Contact}
	if c.Layout == LayoutShared {
		wantAcct.URL, wantAcct.Contact = "", nil
		if err := c.SaveAccount(ctx, ca, "second", rec); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("second account in the shared layout: %v", err)
		}
	} else {
		if err := c.SaveAccount(ctx, "https://acme.example/dir", "staging-2", rec); err != nil {
			t.Fatal(err)
		}
		if err := c.SaveAccount(ctx, ca, "../x", rec); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("account ID ../x: %v", err)
		}
	}
	if !reflect.DeepEqual(gotAcct, wantAcct) {
		t.Errorf("LoadAccount = %+v\nwant %+v", gotAcct, wantAcct)
	}
	accts, err := c.ListAccounts(ctx, "")
	wantN = 2
	if c.Layout == LayoutShared {
		wantN = 1
	}
	if err != nil || len(accts) != wantN {
		t.Errorf("ListAccounts = %+v, %v; want %d", accts, err, wantN)
	}
	if err := c.SaveAccount(ctx, ca, "", AccountRecord{KeyPEM: []byte("not a key")}); err == nil {
		t.Error("SaveAccount with no key succeeded")
	}
}

// TestCertsSharedFiles checks the files of the shared layout as other
// programs see them.
func TestCertsSharedFiles(t *testing.T) {
	d := newTestDir(t)
	c := &Certs{Store: d, Layout: LayoutShared}
	ctx := context.Background()
	keyPEM, chainPEM := testCert(t, "www.example.com")
	if err := c.SaveCertificate(ctx, CertRecord{Name: "www.example.com", KeyPEM: keyPEM, ChainPEM: chainPEM}); err != nil {
		t.Fatal(err)
	}
	acct, _ := testCert(t, "acct")
	if err := c.SaveAccount(ctx, "", "", AccountRecord{KeyPEM: acct}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(d.Root(), "www.example.com.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.ParsePEM(data); err != nil {
		t.Errorf("combined file has no key: %v", err)
	}
	if certs, err := keys.ParseCertificates(data); err != nil || len(certs) != 2 {
		t.Errorf("combined file: %d certificates, %v", len(certs), err)
	}
	if k, err := os.ReadFile(filepath.Join(d.Root(), "client.key")); err != nil || !bytes.Equal(k, acct) {
		t.Errorf("client.key: %v", err)
	}
	// An empty file asks for a certificate; other files are not ours.
	os.WriteFile(filepath.Join(d.Root(), "new.example.com.pem"), nil, 0o600)
	os.WriteFile(filepath.Join(d.Root(), "README.txt"), nil, 0o600)
	list, err := c.ListCertificates(ctx, "")
	if err != nil || len(list) != 2 || list[0].Name != "new.example.com" || list[0].ChainPEM != nil || list[1].Name != "www.example.com" {
		t.Errorf("ListCertificates = %+v, %v", list, err)
	}
}

// saveOnReread is a Store that writes value at key just before key is
// read a second time, as a save that completes while a reader retries.
type saveOnReread struct {
	Store
	key   string
	value []byte
	reads int
}

func (s *saveOnReread) Get(ctx context.Context, key string) ([]byte, error) {
	if key == s.key {
		if s.reads++; s.reads == 2 {
			if err := s.Store.Put(ctx, key, s.value); err != nil {
				return nil, err
			}
		}
	}
	return s.Store.Get(ctx, key)
}

// TestCertsMidSave puts the store in the state a reader can meet while an
// older certkeeper (unversioned files, written one by one) saves a renewal
// with a new key: new key, old chain.
func TestCertsMidSave(t *testing.T) {
	s := NewMemory()
	ctx := context.Background()
	const ca = "https://ca.test/dir"
	const dir = "certificates/ca.test_dir/a.test/"
	keyPEM, chainPEM := testCert(t, "a.test")
	s.Put(ctx, dir+"key.pem", keyPEM)
	s.Put(ctx, dir+"cert.pem", chainPEM)
	newKey, newChain := testCert(t, "a.test")
	if err := s.Put(ctx, dir+"key.pem", newKey); err != nil {
		t.Fatal(err)
	}
	// The save completes while the reader retries: just before it reads
	// the chain again.
	saving := &saveOnReread{Store: s, key: dir + "cert.pem", value: newChain}
	c := &Certs{Store: saving}
	res, err := c.LoadCertificate(ctx, ca, "a.test")
	if err != nil || !bytes.Equal(res.ChainPEM, newChain) || saving.reads < 2 {
		t.Fatalf("Load during a save: %v after %d reads of the chain", err, saving.reads)
	}
	// A pair that never comes right is reported.
	s.Put(ctx, dir+"key.pem", keyPEM)
	if _, err := c.LoadCertificate(ctx, ca, "a.test"); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("Load of a mismatched pair: %v", err)
	}
}
