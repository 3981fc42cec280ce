// Package keys generates private keys of the types certkeeper supports and
// converts keys and certificates to and from PEM.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Type is a private key type.
type Type string

// Supported key types. The zero value means the default, EC256.
const (
	EC256   Type = "ec256"
	EC384   Type = "ec384"
	RSA2048 Type = "rsa2048"
	RSA3072 Type = "rsa3072"
	RSA4096 Type = "rsa4096"
)

// Types returns the supported key types, the default first.
func Types() []Type { return []Type{EC256, EC384, RSA2048, RSA3072, RSA4096} }

// ParseType parses a key type name such as "ec256", "P-384" or "rsa2048"
// (case-insensitive). The empty string gives EC256.
func ParseType(s string) (Type, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "ec256", "p256", "p-256", "ecdsa":
		return EC256, nil
	case "ec384", "p384", "p-384":
		return EC384, nil
	case "rsa2048", "rsa":
		return RSA2048, nil
	case "rsa3072":
		return RSA3072, nil
	case "rsa4096":
		return RSA4096, nil
	}
	return "", &UnknownTypeError{Name: s}
}

// UnknownTypeError is ParseType's error for a name that is no key type.
type UnknownTypeError struct {
	// Name is the name as given.
	Name string
}

// Error reads "keys: unknown key type "NAME" (known: ec256, …)".
func (e *UnknownTypeError) Error() string {
	return fmt.Sprintf("keys: unknown key type %q (%s)", e.Name, e.known())
}

// Message is Error without the name given, for a program that names the
// flag or key it came from: "unknown key type (known: ec256, …)".
func (e *UnknownTypeError) Message() string {
	return "unknown key type (" + e.known() + ")"
}

func (e *UnknownTypeError) known() string {
	names := make([]string, 0, len(Types()))
	for _, t := range Types() {
		names = append(names, string(t))
	}
	return "known: " + strings.Join(names, ", ")
}

// Generate returns a new private key of type t ("" is EC256); a t that
// is no Type is an *UnknownTypeError.
func Generate(t Type) (crypto.Signer, error) {
	switch t {
	case "", EC256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EC384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, &UnknownTypeError{Name: string(t)}
}

// TypeOf reports the Type of key, or an error for keys of other kinds.
func TypeOf(key crypto.PublicKey) (Type, error) {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return EC256, nil
		case elliptic.P384():
			return EC384, nil
		}
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return RSA2048, nil
		case 3072:
			return RSA3072, nil
		case 4096:
			return RSA4096, nil
		}
	}
	return "", fmt.Errorf("keys: unsupported public key %T", key)
}

// MarshalPEM encodes a private key as PEM: "EC PRIVATE KEY" (SEC 1) for
// ECDSA, "RSA PRIVATE KEY" (PKCS #1) for RSA, "PRIVATE KEY" (PKCS #8) for
// Ed25519: the forms most servers read.
func MarshalPEM(key crypto.Signer) ([]byte, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
	case ed25519.PrivateKey:
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}
	return nil, fmt.Errorf("keys: cannot encode private key of type %T", key)
}

// ErrNoKey is returned by ParsePEM when the input holds no private key.
var ErrNoKey = errors.New("keys: no private key in PEM data")

// ParsePEM returns the first private key in PEM data, skipping any other
// blocks (certificates), so it reads key files and combined key+chain
// files alike.
func ParsePEM(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, ErrNoKey
		}
		var (
			key any
			err error
		)
		switch b.Type {
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("keys: parsing %s: %w", b.Type, err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("keys: %T is not a signing key", key)
		}
		return s, nil
	}
}

// ParseCertificates returns every CERTIFICATE block in PEM data, in order,
// skipping other blocks. It fails if there is none.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keys: parsing certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("keys: no certificate in PEM data")
	}
	return certs, nil
}

// EncodeCertificates encodes DER certificates as consecutive PEM blocks.
func EncodeCertificates(ders ...[]byte) []byte {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return out
}
