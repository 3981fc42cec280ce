package store

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/keys"
)

// Resource is an issued certificate with its private key.
type Resource struct {
	// Name is the certificate's name, its first identifier, such as
	// "www.example.com", "*.example.com" or "192.0.2.1". It selects where
	// the certificate is stored (see EncodeName). SaveCertificate uses
	// Identifiers[0] when it is empty.
	Name string
	// Identifiers are all the names and IP addresses the certificate is
	// for (RFC 8555 §7.1.3 "identifiers").
	Identifiers []string
	// CA is the ACME directory URL of the CA that issued it.
	CA string
	// CertURL is the certificate's URL at the CA (§7.4.2), for
	// revocation and renewal information.
	CertURL string
	// Profile is the certificate profile ordered, if any.
	Profile string
	// ObtainedAt is when the certificate was issued to us.
	ObtainedAt time.Time
	// KeyPEM is the private key in PEM. It is nil when the user supplied
	// the CSR and keeps the key.
	KeyPEM []byte
	// ChainPEM is the certificate chain in PEM, leaf first, then the
	// intermediates (§7.4.2). An empty ChainPEM from LoadCertificate
	// means the shared layout holds an empty placeholder file: the name
	// is wanted but not yet issued.
	ChainPEM []byte

	// Key and Certificates are KeyPEM and ChainPEM parsed, filled in by
	// LoadCertificate and ListCertificates (which check that the key is
	// the leaf's) so that readers need not parse them again. Key is nil
	// without KeyPEM. SaveCertificate ignores both.
	Key          crypto.Signer
	Certificates []*x509.Certificate
}

// AccountRecord is what is kept of an ACME account (RFC 8555 §7.1.2).
type AccountRecord struct {
	// CA is the ACME directory URL. LoadAccount and ListAccounts fill it
	// in; SaveAccount takes it from its argument.
	CA string
	// ID tells several accounts at one CA apart ("default" when there is
	// one). LoadAccount and ListAccounts fill it in.
	ID string
	// URL is the account URL, used as "kid" in requests (§7.3).
	URL string
	// KeyPEM is the account's private key in PEM.
	KeyPEM []byte
	// Contact lists the account's contact URLs such as "mailto:…".
	Contact []string
}

// Layout says how Certs arranges certificates and accounts in a Store.
type Layout int

const (
	// LayoutStandard, the default, keeps one directory per CA and per
	// certificate:
	//
	//	certificates/<ca>/<name>/key.pem     private key
	//	certificates/<ca>/<name>/cert.pem    chain, leaf first
	//	certificates/<ca>/<name>/meta.json   identifiers, URLs, times
	//	accounts/<ca>/<id>/account.key       account key
	//	accounts/<ca>/<id>/account.json      account URL and contacts
	//
	// where <ca> is CADirName of the directory URL, <name> is EncodeName
	// of the certificate name and <id> is the account ID or "default".
	LayoutStandard Layout = iota

	// LayoutShared is the layout that txacme and txsni read and write, so
	// that other programs can share the directory:
	//
	//	<name>.pem    private key, then the chain, leaf first
	//	client.key    account key
	//
	// There is no CA component: use one store (one directory) per CA.
	// The ca arguments of Certs methods are ignored, there is one
	// account (ID "" or "default"), and only the PEM data is kept:
	// loading fills in Identifiers from the certificate and ObtainedAt
	// from the file's modification time, and an account's URL and
	// contacts are not stored (look the account up by key with
	// onlyReturnExisting, RFC 8555 §7.3.1). An empty <name>.pem is a
	// request for the name to be issued; it loads as a Resource with no
	// chain. Tools that look names up by SNI will not find wildcard
	// files, which are named after EncodeName's "_wildcard_" form.
	LayoutShared
)

// String returns "standard" or "shared".
func (l Layout) String() string {
	switch l {
	case LayoutStandard:
		return "standard"
	case LayoutShared:
		return "shared"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// ErrKeyMismatch is wrapped by the error for a certificate whose private
// key does not match its leaf. LoadCertificate retries for a moment
// before returning it, since a reader can meet a save in progress.
var ErrKeyMismatch = errors.New("store: private key does not match the certificate")

// Certs keeps certificates and accounts in a Store, in a Layout.
//
// Certs does not lock: a program that issues certificates should hold
// Store.Lock for the name around issuing and saving. Readers need no
// lock. In LayoutShared a certificate is one file written atomically. In
// LayoutStandard SaveCertificate writes key.pem, then cert.pem, then
// meta.json, each atomically: a first save is visible only once cert.pem
// exists, by which time key.pem does too; during a renewal with a new
// key a reader can meet the new key with the old chain, which
// LoadCertificate detects by matching the key to the leaf and retries;
// and meta.json may lag the chain for a moment.
type Certs struct {
	Store  Store
	Layout Layout
}

const (
	certsDir    = "certificates"
	accountsDir = "accounts"
	sharedKey   = "client.key"
	defaultID   = "default"
)

// SaveCertificate stores res, replacing any certificate of the same name
// from the same CA. It checks that ChainPEM holds certificates and that
// KeyPEM, if given, matches the leaf.
func (c *Certs) SaveCertificate(ctx context.Context, res Resource) error {
	if res.Name == "" && len(res.Identifiers) > 0 {
		res.Name = res.Identifiers[0]
	}
	if _, _, err := checkPair(res.KeyPEM, res.ChainPEM); err != nil {
		return fmt.Errorf("store: saving %q: %w", res.Name, err)
	}
	if c.Layout == LayoutShared {
		k, err := c.sharedCertKey(res.Name)
		if err != nil {
			return err
		}
		var data bytes.Buffer
		if len(res.KeyPEM) > 0 {
			data.Write(bytes.TrimSpace(res.KeyPEM))
			data.WriteByte('\n')
		}
		data.Write(res.ChainPEM)
		return c.Store.Put(ctx, k, data.Bytes())
	}
	dir, err := c.certDir(res.CA, res.Name)
	if err != nil {
		return err
	}
	meta, err := json.MarshalIndent(certMeta{
		Name: res.Name, Identifiers: res.Identifiers, CA: res.CA,
		CertURL: res.CertURL, Profile: res.Profile, ObtainedAt: res.ObtainedAt,
	}, "", "  ")
	if err != nil {
		return err
	}
	if len(res.KeyPEM) > 0 {
		err = c.Store.Put(ctx, dir+"/key.pem", res.KeyPEM)
	} else {
		err = ignoreMissing(c.Store.Delete(ctx, dir+"/key.pem")) // an older key would not match
	}
	if err != nil {
		return err
	}
	if err := c.Store.Put(ctx, dir+"/cert.pem", res.ChainPEM); err != nil {
		return err
	}
	return c.Store.Put(ctx, dir+"/meta.json", append(meta, '\n'))
}

// LoadCertificate returns the certificate called name from the CA with
// directory URL ca. A missing certificate gives an error wrapping
// fs.ErrNotExist.
func (c *Certs) LoadCertificate(ctx context.Context, ca, name string) (Resource, error) {
	if c.Layout == LayoutShared {
		k, err := c.sharedCertKey(name)
		if err != nil {
			return Resource{}, err
		}
		return c.loadShared(ctx, k)
	}
	caDir, err := CADirName(ca)
	if err != nil {
		return Resource{}, err
	}
	enc, err := EncodeName(name)
	if err != nil {
		return Resource{}, err
	}
	return c.loadStandard(ctx, caDir, enc)
}

// ListCertificates returns the certificates from the CA with directory
// URL ca, or from every CA if ca is "", sorted by key. Certificates that
// fail to load are left out and their errors joined into the returned
// error, alongside the ones that loaded.
func (c *Certs) ListCertificates(ctx context.Context, ca string) ([]Resource, error) {
	var (
		out  []Resource
		errs []error
	)
	if c.Layout == LayoutShared {
		ks, err := c.Store.List(ctx, "")
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			if strings.Contains(k, "/") || !strings.HasSuffix(k, ".pem") {
				continue
			}
			if _, err := DecodeName(strings.TrimSuffix(k, ".pem")); err != nil {
				continue // not ours
			}
			res, err := c.loadShared(ctx, k)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, res)
		}
		return out, errors.Join(errs...)
	}
	prefix := certsDir + "/"
	if ca != "" {
		caDir, err := CADirName(ca)
		if err != nil {
			return nil, err
		}
		prefix += caDir + "/"
	}
	ks, err := c.Store.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	for _, k := range ks {
		parts := strings.Split(k, "/")
		if len(parts) != 4 || parts[3] != "cert.pem" {
			continue
		}
		res, err := c.loadStandard(ctx, parts[1], parts[2])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// DeleteCertificate removes the certificate called name from the CA with
// directory URL ca, chain first so that no reader sees a chain without
// its key. A missing certificate gives an error wrapping fs.ErrNotExist.
func (c *Certs) DeleteCertificate(ctx context.Context, ca, name string) error {
	if c.Layout == LayoutShared {
		k, err := c.sharedCertKey(name)
		if err != nil {
			return err
		}
		return c.Store.Delete(ctx, k)
	}
	dir, err := c.certDir(ca, name)
	if err != nil {
		return err
	}
	if err := c.Store.Delete(ctx, dir+"/cert.pem"); err != nil {
		return err
	}
	if err := ignoreMissing(c.Store.Delete(ctx, dir+"/meta.json")); err != nil {
		return err
	}
	return ignoreMissing(c.Store.Delete(ctx, dir+"/key.pem"))
}

func (c *Certs) certDir(ca, name string) (string, error) {
	caDir, err := CADirName(ca)
	if err != nil {
		return "", err
	}
	enc, err := EncodeName(name)
	if err != nil {
		return "", err
	}
	return certsDir + "/" + caDir + "/" + enc, nil
}

func (c *Certs) sharedCertKey(name string) (string, error) {
	enc, err := EncodeName(name)
	if err != nil {
		return "", err
	}
	k := enc + ".pem"
	if err := ValidateKey(k); err != nil {
		return "", err
	}
	return k, nil
}

// certMeta is meta.json.
type certMeta struct {
	Name        string    `json:"name"`
	Identifiers []string  `json:"identifiers,omitempty"`
	CA          string    `json:"ca"`
	CertURL     string    `json:"cert_url,omitempty"`
	Profile     string    `json:"profile,omitempty"`
	ObtainedAt  time.Time `json:"obtained_at,omitzero"`
}

// mismatchRetries is how often loadStandard rereads a certificate whose
// key and chain disagree, 20 ms apart, before giving up.
const mismatchRetries = 5

func (c *Certs) loadStandard(ctx context.Context, caDir, enc string) (Resource, error) {
	name, err := DecodeName(enc)
	if err != nil {
		return Resource{}, err
	}
	dir := certsDir + "/" + caDir + "/" + enc
	for attempt := 1; ; attempt++ {
		chain, err := c.Store.Get(ctx, dir+"/cert.pem")
		if err != nil {
			return Resource{}, err
		}
		key, err := c.Store.Get(ctx, dir+"/key.pem")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Resource{}, err
		}
		parsedKey, certs, err := checkPair(key, chain)
		if errors.Is(err, ErrKeyMismatch) && attempt < mismatchRetries {
			if err := sleep(ctx, time.Duration(attempt)*20*time.Millisecond); err != nil {
				return Resource{}, err
			}
			continue
		}
		if err != nil {
			return Resource{}, fmt.Errorf("store: %s: %w", dir, err)
		}
		res := Resource{Name: name, KeyPEM: key, ChainPEM: chain, Identifiers: leafIdentifiers(certs[0]), Key: parsedKey, Certificates: certs}
		raw, err := c.Store.Get(ctx, dir+"/meta.json")
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return Resource{}, err
		default:
			var m certMeta
			if err := json.Unmarshal(raw, &m); err != nil {
				return Resource{}, fmt.Errorf("store: %s/meta.json: %w", dir, err)
			}
			if len(m.Identifiers) > 0 {
				res.Identifiers = m.Identifiers
			}
			res.CA, res.CertURL, res.Profile, res.ObtainedAt = m.CA, m.CertURL, m.Profile, m.ObtainedAt
		}
		return res, nil
	}
}

func (c *Certs) loadShared(ctx context.Context, k string) (Resource, error) {
	name, err := DecodeName(strings.TrimSuffix(k, ".pem"))
	if err != nil {
		return Resource{}, err
	}
	data, err := c.Store.Get(ctx, k)
	if err != nil {
		return Resource{}, err
	}
	res := Resource{Name: name}
	if info, err := c.Store.Stat(ctx, k); err == nil {
		res.ObtainedAt = info.Modified
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return res, nil // a placeholder: please issue
	}
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			res.ChainPEM = append(res.ChainPEM, pem.EncodeToMemory(b)...)
		case strings.HasSuffix(b.Type, "PRIVATE KEY") && res.KeyPEM == nil:
			res.KeyPEM = pem.EncodeToMemory(b)
		}
	}
	key, certs, err := checkPair(res.KeyPEM, res.ChainPEM)
	if err != nil {
		return Resource{}, fmt.Errorf("store: %s: %w", k, err)
	}
	res.Identifiers, res.Key, res.Certificates = leafIdentifiers(certs[0]), key, certs
	return res, nil
}

// checkPair parses chainPEM and, if keyPEM is not empty, checks that it
// is the leaf's private key. It returns both parsed.
func checkPair(keyPEM, chainPEM []byte) (crypto.Signer, []*x509.Certificate, error) {
	certs, err := keys.ParseCertificates(chainPEM)
	if err != nil {
		return nil, nil, err
	}
	if len(keyPEM) == 0 {
		return nil, certs, nil
	}
	key, err := keys.ParsePEM(keyPEM)
	if err != nil {
		return nil, nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(certs[0].PublicKey) {
		return nil, nil, ErrKeyMismatch
	}
	return key, certs, nil
}

func leafIdentifiers(leaf *x509.Certificate) []string {
	ids := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		ids = append(ids, ip.String())
	}
	return ids
}

func ignoreMissing(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
