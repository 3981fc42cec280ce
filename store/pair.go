package store

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"path"
	"strings"

	"github.com/certkeeper/certkeeper/keys"
)

// record makes the CertRecord of one version's files found in dir (a
// certificate or version directory), and looks up its revocation.
func (c *Certs) record(ctx context.Context, dir string, key, chain, meta []byte) (CertRecord, error) {
	parsedKey, certs, err := checkPair(key, chain)
	if err != nil {
		return CertRecord{}, err
	}
	certDir := dir
	if i := strings.Index(dir, "/"+versionsDir+"/"); i >= 0 {
		certDir = dir[:i]
	}
	name, err := DecodeName(path.Base(certDir))
	if err != nil {
		return CertRecord{}, err
	}
	res := CertRecord{Name: name, KeyPEM: key, ChainPEM: chain, Identifiers: leafIdentifiers(certs[0]), Key: parsedKey, Certificates: certs}
	if meta != nil {
		var m certMeta
		if err := json.Unmarshal(meta, &m); err != nil {
			return CertRecord{}, fmt.Errorf("%s: %w", metaFile, err)
		}
		if len(m.Identifiers) > 0 {
			res.Identifiers = m.Identifiers
		}
		res.CA, res.CertURL, res.Profile, res.ObtainedAt = m.CA, m.CertURL, m.Profile, m.ObtainedAt
	}
	if res.Revoked, err = c.loadRevocation(ctx, certDir+"/"+revokedDir, certs[0]); err != nil {
		return CertRecord{}, err
	}
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

// checkRecord is checkPair for a record to save, which may carry its key
// and chain parsed already (CertRecord.Key and Certificates, as the
// manager has them from the order): when KeyPEM and ChainPEM are their
// encodings byte for byte (the CERTIFICATE blocks of ChainPEM are the
// certificates' DER in order, KeyPEM is keys.MarshalPEM of the key),
// they are used and nothing is parsed, which was a quarter of a
// renewal's store CPU; otherwise the PEM is parsed (checkPair), and what
// is stored is always what the PEM says.
func checkRecord(res CertRecord) (crypto.Signer, []*x509.Certificate, error) {
	if len(res.Certificates) == 0 || (len(res.KeyPEM) > 0) != (res.Key != nil) {
		return checkPair(res.KeyPEM, res.ChainPEM)
	}
	rest, i := res.ChainPEM, 0
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if i >= len(res.Certificates) || !bytes.Equal(b.Bytes, res.Certificates[i].Raw) {
			return checkPair(res.KeyPEM, res.ChainPEM)
		}
		i++
	}
	if i != len(res.Certificates) {
		return checkPair(res.KeyPEM, res.ChainPEM)
	}
	if res.Key == nil {
		return nil, res.Certificates, nil
	}
	if enc, err := keys.MarshalPEM(res.Key); err != nil || !bytes.Equal(enc, res.KeyPEM) {
		return checkPair(res.KeyPEM, res.ChainPEM)
	}
	pub, ok := res.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(res.Certificates[0].PublicKey) {
		return nil, nil, ErrKeyMismatch
	}
	return res.Key, res.Certificates, nil
}
