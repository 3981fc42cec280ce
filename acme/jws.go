package acme

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// keySigner adapts any crypto.Signer (an in-memory key, an HSM, a KMS) to
// go-jose's OpaqueSigner, so that the account key never has to be an
// *ecdsa.PrivateKey or *rsa.PrivateKey.
type keySigner struct {
	s   crypto.Signer
	alg jose.SignatureAlgorithm
}

var _ jose.OpaqueSigner = keySigner{}

// newKeySigner picks the JWS algorithm for the key: ES256 for P-256, ES384
// for P-384, ES512 for P-521, RS256 for RSA and EdDSA for Ed25519 (RFC
// 8555 §6.2 lets the CA decide which it accepts).
func newKeySigner(s crypto.Signer) (keySigner, error) {
	if s == nil {
		return keySigner{}, errors.New("acme: no key")
	}
	alg, err := jwsAlgorithm(s.Public())
	if err != nil {
		return keySigner{}, err
	}
	return keySigner{s: s, alg: alg}, nil
}

func jwsAlgorithm(pub crypto.PublicKey) (jose.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
		return "", fmt.Errorf("acme: unsupported ECDSA curve %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		return jose.RS256, nil
	case ed25519.PublicKey:
		return jose.EdDSA, nil
	}
	return "", fmt.Errorf("acme: unsupported key type %T", pub)
}

func (k keySigner) Public() *jose.JSONWebKey {
	return &jose.JSONWebKey{Key: k.s.Public()}
}

func (k keySigner) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{k.alg} }

func (k keySigner) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != k.alg {
		return nil, fmt.Errorf("acme: key cannot sign with %s", alg)
	}
	var h crypto.Hash
	switch alg {
	case jose.ES256, jose.RS256:
		h = crypto.SHA256
	case jose.ES384:
		h = crypto.SHA384
	case jose.ES512:
		h = crypto.SHA512
	case jose.EdDSA:
		return k.s.Sign(rand.Reader, payload, crypto.Hash(0))
	}
	hh := h.New()
	hh.Write(payload)
	sig, err := k.s.Sign(rand.Reader, hh.Sum(nil), h)
	if err != nil {
		return nil, err
	}
	if pub, ok := k.s.Public().(*ecdsa.PublicKey); ok {
		// JWS wants r||s, fixed width (RFC 7518 §3.4); crypto.Signer
		// gives ASN.1.
		return ecdsaRawSignature(sig, (pub.Curve.Params().BitSize+7)/8)
	}
	return sig, nil
}

func ecdsaRawSignature(der []byte, size int) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) != 0 || rs.R == nil || rs.S == nil {
		return nil, errors.New("acme: malformed ECDSA signature from signer")
	}
	if rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > size*8 || rs.S.BitLen() > size*8 {
		return nil, errors.New("acme: out-of-range ECDSA signature from signer")
	}
	out := make([]byte, 2*size)
	rs.R.FillBytes(out[:size])
	rs.S.FillBytes(out[size:])
	return out, nil
}

// jwsParams says how to sign one request (RFC 8555 §6.2).
type jwsParams struct {
	key   crypto.Signer
	kid   string // account URL; empty means embed the jwk
	nonce string // empty for the inner JWS of keyChange
	url   string
}

// signJWS returns the flattened JSON serialization of payload signed per p.
// A nil payload signs the empty string (POST-as-GET, §6.3).
func signJWS(p jwsParams, payload []byte) ([]byte, error) {
	ks, err := newKeySigner(p.key)
	if err != nil {
		return nil, err
	}
	opts := &jose.SignerOptions{EmbedJWK: p.kid == ""}
	opts.WithHeader("url", p.url)
	if p.kid != "" {
		opts.WithHeader(jose.HeaderKey("kid"), p.kid)
	}
	if p.nonce != "" {
		opts.WithHeader(jose.HeaderKey("nonce"), p.nonce)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: ks.alg, Key: ks}, opts)
	if err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	if payload == nil {
		payload = []byte{}
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return nil, fmt.Errorf("acme: signing: %w", err)
	}
	return []byte(obj.FullSerialize()), nil
}

// externalAccountBinding builds the EAB JWS of RFC 8555 §7.3.4: the
// account's public JWK, HS256-signed with the CA-provided MAC key, with kid
// the CA's key identifier and url the newAccount URL, and no nonce.
func externalAccountBinding(keyID string, hmacKey []byte, accountKey crypto.PublicKey, url string) ([]byte, error) {
	jwk, err := (&jose.JSONWebKey{Key: accountKey}).MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("acme: account key: %w", err)
	}
	opts := &jose.SignerOptions{}
	opts.WithHeader(jose.HeaderKey("kid"), keyID)
	opts.WithHeader("url", url)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: hmacKey}, opts)
	if err != nil {
		return nil, fmt.Errorf("acme: external account binding: %w", err)
	}
	obj, err := signer.Sign(jwk)
	if err != nil {
		return nil, fmt.Errorf("acme: external account binding: %w", err)
	}
	return []byte(obj.FullSerialize()), nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint (SHA-256, base64url) of
// an RSA, ECDSA or Ed25519 public key.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	if _, err := jwsAlgorithm(pub); err != nil {
		return "", err
	}
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("acme: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// KeyAuthorization returns token "." thumbprint(accountKey), the key
// authorization of RFC 8555 §8.1.
func KeyAuthorization(token string, accountKey crypto.PublicKey) (string, error) {
	if token == "" {
		return "", errors.New("acme: empty challenge token")
	}
	tp, err := Thumbprint(accountKey)
	if err != nil {
		return "", err
	}
	return token + "." + tp, nil
}

// DNS01Value returns the TXT record value for a dns-01 (RFC 8555 §8.4) or
// dns-account-01 challenge: base64url(SHA-256(keyAuth)).
func DNS01Value(keyAuth string) string {
	sum := sha256.Sum256([]byte(keyAuth))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// DNSAccountLabel returns the account-specific label of a dns-account-01
// challenge (draft-ietf-acme-dns-account-label): "_" followed by the
// unpadded lowercase base32 of the first 10 bytes of SHA-256(accountURL).
// The record then lives at <label>._acme-challenge.<domain>.
func DNSAccountLabel(accountURL string) string {
	sum := sha256.Sum256([]byte(accountURL))
	return "_" + strings.ToLower(lowerBase32.EncodeToString(sum[:10]))
}

// publicJWK returns the JSON JWK of a public key.
func publicJWK(pub crypto.PublicKey) ([]byte, error) {
	if _, err := jwsAlgorithm(pub); err != nil {
		return nil, err
	}
	b, err := (&jose.JSONWebKey{Key: pub}).MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	return b, nil
}
