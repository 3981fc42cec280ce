package acmetest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// issuer is the fake CA's in-memory PKI: n roots, each certifying the one
// intermediate key, so a leaf verifies under every chain (the first is the
// default, the others are alternates, as cross-signed chains are).
type issuer struct {
	key      *ecdsa.PrivateKey // the intermediate key, signs leaves
	rootKeys []*ecdsa.PrivateKey
	roots    []*x509.Certificate
	inters   []*x509.Certificate // inters[i] is signed by roots[i]
}

func newIssuer(now time.Time, n int) (*issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	iss := &issuer{key: key}
	skid := keyID(&key.PublicKey)
	for i := range n {
		rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		name := "acmetest fake root " + strconv.Itoa(i)
		rootTmpl := &x509.Certificate{
			SerialNumber: randomSerial(), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(20 * 365 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
			SubjectKeyId: keyID(&rootKey.PublicKey),
		}
		rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
		if err != nil {
			return nil, err
		}
		root, _ := x509.ParseCertificate(rootDER)
		interTmpl := &x509.Certificate{
			SerialNumber: randomSerial(), Subject: pkix.Name{CommonName: "acmetest fake intermediate"},
			NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
			MaxPathLenZero: true, SubjectKeyId: skid,
		}
		interDER, err := x509.CreateCertificate(rand.Reader, interTmpl, root, &key.PublicKey, rootKey)
		if err != nil {
			return nil, err
		}
		inter, _ := x509.ParseCertificate(interDER)
		iss.roots = append(iss.roots, root)
		iss.rootKeys = append(iss.rootKeys, rootKey)
		iss.inters = append(iss.inters, inter)
	}
	return iss, nil
}

// keyID is the RFC 5280 §4.2.1.2 method (1) key identifier.
func keyID(pub crypto.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		Key       asn1.BitString
	}
	_, _ = asn1.Unmarshal(der, &spki)
	sum := sha1.Sum(spki.Key.Bytes)
	return sum[:]
}

// Issuance is what the fake CA is about to issue, handed to
// CAOptions.Misissue to change.
type Issuance struct {
	// Template is the leaf to sign (x509.CreateCertificate's template):
	// exactly the order's names, valid from a minute before now for the
	// certificate lifetime.
	Template *x509.Certificate
	// PublicKey is the key to certify: the CSR's.
	PublicKey crypto.PublicKey
	// BrokenChains lists the chains (0 the default one, N the alternate N)
	// served with an intermediate of the right name that did not sign the
	// leaf.
	BrokenChains []int
}

// issue signs a leaf for csr's key with exactly the names of the order,
// valid from now for lifetime, as misissue (if not nil) changes it. It
// returns the chains to serve broken.
func (iss *issuer) issue(csr *x509.CertificateRequest, dns []string, ips []net.IP, now time.Time, lifetime time.Duration, misissue func(*Issuance)) (*x509.Certificate, []int, error) {
	cn := ""
	if len(dns) > 0 {
		cn = dns[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dns, IPAddresses: ips,
		NotBefore:   now.Add(-time.Minute),
		NotAfter:    now.Add(-time.Minute).Add(lifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	is := &Issuance{Template: tmpl, PublicKey: csr.PublicKey}
	if misissue != nil {
		misissue(is)
	}
	der, err := x509.CreateCertificate(rand.Reader, is.Template, iss.inters[0], is.PublicKey, iss.key)
	if err != nil {
		return nil, nil, fmt.Errorf("acmetest: sign leaf: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range is.BrokenChains {
		if n < 0 || n >= len(iss.inters) {
			return nil, nil, fmt.Errorf("acmetest: Misissue broke chain %d of %d", n, len(iss.inters))
		}
	}
	return leaf, is.BrokenChains, nil
}

// impostor is an intermediate with the name of inters[n] and another key,
// signed by roots[n]: a chain with it reads right and does not verify.
func (iss *issuer) impostor(n int) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil
	}
	tmpl := *iss.inters[n]
	tmpl.SubjectKeyId = keyID(&key.PublicKey)
	tmpl.SerialNumber = randomSerial()
	der, _ := x509.CreateCertificate(rand.Reader, &tmpl, iss.roots[n], &key.PublicKey, iss.rootKeys[n])
	return der
}

// chainPEM is c's leaf and intermediate n in PEM (§7.4.2), or an
// impostor of it where Misissue broke chain n.
func (iss *issuer) chainPEM(c *caCert, n int) []byte {
	inter := iss.inters[n].Raw
	if slices.Contains(c.broken, n) {
		inter = iss.impostor(n)
	}
	var b bytes.Buffer
	_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.leaf.Raw})
	_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: inter})
	return b.Bytes()
}

// caCert is an issued certificate.
type caCert struct {
	id      string
	acct    string // URL of the account that ordered it
	leaf    *x509.Certificate
	revoked bool
	reason  int
	broken  []int // chains served with an impostor intermediate (Misissue)
}

// findCert returns the issued certificate whose DER is der. Called with
// ca.mu held.
func (ca *CA) findCert(der []byte) *caCert {
	for _, c := range ca.certs {
		if bytes.Equal(c.leaf.Raw, der) {
			return c
		}
	}
	return nil
}

// findSerial returns the issued certificate with the given serial and an
// authority key identifier of this CA. Called with ca.mu held.
func (ca *CA) findSerial(aki []byte, serial *big.Int) *caCert {
	if !bytes.Equal(aki, ca.issuer.inters[0].SubjectKeyId) {
		return nil
	}
	for _, c := range ca.certs {
		if c.leaf.SerialNumber.Cmp(serial) == 0 {
			return c
		}
	}
	return nil
}

// renewalWindow is the ARI window of c. Called with ca.mu held.
func (ca *CA) renewalWindow(c *caCert) (start, end time.Time) {
	if w, ok := ca.control.windows[c.leaf.SerialNumber.Text(16)]; ok {
		return w[0], w[1]
	}
	if c.revoked {
		now := ca.opts.Now()
		return now.Add(-time.Hour), now
	}
	life := c.leaf.NotAfter.Sub(c.leaf.NotBefore)
	return c.leaf.NotAfter.Add(-life / 3), c.leaf.NotAfter.Add(-life / 6)
}

// csrNames checks csr against the order's identifiers (§7.4: the CSR
// names exactly the identifiers of the order) and returns its names.
func csrNames(csr *x509.CertificateRequest, ids []acme.Identifier) ([]string, []net.IP, error) {
	var want, got []string
	for _, id := range ids {
		want = append(want, string(id.Type)+":"+id.Value)
	}
	for _, d := range csr.DNSNames {
		got = append(got, "dns:"+d)
	}
	for _, ip := range csr.IPAddresses {
		got = append(got, "ip:"+ip.String())
	}
	if cn := csr.Subject.CommonName; cn != "" {
		if !slices.Contains(got, "dns:"+cn) && !slices.Contains(got, "ip:"+cn) {
			return nil, nil, fmt.Errorf("common name %q is not among the CSR's names", cn)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	got = slices.Compact(got)
	if !slices.Equal(want, got) {
		return nil, nil, fmt.Errorf("CSR names %v, order names %v", got, want)
	}
	return csr.DNSNames, csr.IPAddresses, nil
}
