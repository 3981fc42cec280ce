package cli

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/certkeeper/certkeeper/keys"
)

// readFlagFile reads the file a flag names. A file that cannot be read
// is a usage error naming the flag and the file.
func readFlagFile(flagName, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, usagef("%s %s: cannot read it: %v", flagName, path, err)
	}
	return data, nil
}

// checkCARoot checks that -ca-root, if given, names a readable file of
// PEM certificates: a usage error otherwise, before anything is sent.
func (c *common) checkCARoot() error {
	if c.caRoot == "" {
		return nil
	}
	data, err := readFlagFile("-ca-root", c.caRoot)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return usagef("-ca-root %s holds no PEM certificate", c.caRoot)
	}
	return nil
}

// readKey reads the private key of -key: one of the key types a CA
// takes (keys.Types), else a usage error.
func readKey(path string) (crypto.Signer, error) {
	data, err := readFlagFile("-key", path)
	if err != nil {
		return nil, err
	}
	key, err := keys.ParsePEM(data)
	if errors.Is(err, keys.ErrNoKey) {
		return nil, usagef("-key %s holds no PEM private key", path)
	}
	if err != nil {
		return nil, usagef("-key %s: %v", path, err)
	}
	if _, err := keys.TypeOf(key.Public()); err != nil {
		return nil, usagef("-key %s: %s: want one of %v", path, describeKey(key), keys.Types())
	}
	return key, nil
}

// describeKey says what kind of key k is, for messages.
func describeKey(k crypto.Signer) string {
	switch p := k.Public().(type) {
	case *rsa.PublicKey:
		if n := p.N.BitLen(); n < 2048 {
			return fmt.Sprintf("an RSA key of %d bits is too weak (at least 2048)", n)
		}
		return fmt.Sprintf("an RSA key of %d bits is not supported", p.N.BitLen())
	case *ecdsa.PublicKey:
		return fmt.Sprintf("an ECDSA key on curve %s is not supported", p.Curve.Params().Name)
	case ed25519.PublicKey:
		return "an Ed25519 key is not supported"
	}
	return fmt.Sprintf("a %T key is not supported", k.Public())
}

// readCSR reads the certificate signing request of -csr, PEM or DER.
func readCSR(path string) ([]byte, error) {
	data, err := readFlagFile("-csr", path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b != nil {
		if b.Type != "CERTIFICATE REQUEST" && b.Type != "NEW CERTIFICATE REQUEST" {
			return nil, usagef("-csr %s is not a certificate signing request (it holds a PEM %q block)", path, b.Type)
		}
		data = b.Bytes
	}
	if _, err := x509.ParseCertificateRequest(data); err != nil {
		if b != nil {
			return nil, usagef("-csr %s: malformed certificate signing request: %v", path, err)
		}
		return nil, usagef("-csr %s is not a certificate signing request", path)
	}
	return data, nil
}
