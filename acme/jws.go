package acme

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// The JWS of RFC 8555 §6.2 is a narrow profile of RFC 7515: flattened
// JSON serialization, one signature, a protected header of alg, nonce,
// url and either kid or jwk, no unprotected header. It is written here
// directly: a general JOSE library builds a signer, marshals the header
// through reflection and allocates about 15 KB per request for what is a
// base64 encoding and one signature (go-jose, which the tests verify
// every JWS with, stays out of the client).

// keySigner signs JWS input with any crypto.Signer (an in-memory key, an
// HSM, a KMS), so that the account key never has to be an
// *ecdsa.PrivateKey or *rsa.PrivateKey.
type keySigner struct {
	s   crypto.Signer
	alg string
}

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

func jwsAlgorithm(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		case elliptic.P521():
			return "ES512", nil
		}
		return "", fmt.Errorf("acme: unsupported ECDSA curve %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		return "RS256", nil
	case ed25519.PublicKey:
		return "EdDSA", nil
	}
	return "", fmt.Errorf("acme: unsupported key type %T", pub)
}

// sign returns the JWS signature of input (RFC 7518 §3: r||s of fixed
// width for ECDSA, PKCS #1 v1.5 for RSA; RFC 8037 for Ed25519).
func (k keySigner) sign(input []byte) ([]byte, error) {
	var h crypto.Hash
	switch k.alg {
	case "ES256", "RS256":
		h = crypto.SHA256
	case "ES384":
		h = crypto.SHA384
	case "ES512":
		h = crypto.SHA512
	case "EdDSA":
		return k.s.Sign(rand.Reader, input, crypto.Hash(0))
	}
	hh := h.New()
	hh.Write(input)
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

// jwsHeader is the protected header of RFC 8555 §6.2 (and of the
// external account binding, §7.3.4, with an HMAC alg).
type jwsHeader struct {
	Alg   string          `json:"alg"`
	JWK   json.RawMessage `json:"jwk,omitempty"`
	Kid   string          `json:"kid,omitempty"`
	Nonce string          `json:"nonce,omitempty"`
	URL   string          `json:"url"`
}

// signJWS returns the flattened JSON serialization of payload signed per p.
// A nil payload signs the empty string (POST-as-GET, §6.3).
func signJWS(p jwsParams, payload []byte) ([]byte, error) {
	ks, err := newKeySigner(p.key)
	if err != nil {
		return nil, err
	}
	h := jwsHeader{Alg: ks.alg, Kid: p.kid, Nonce: p.nonce, URL: p.url}
	if p.kid == "" {
		if h.JWK, err = publicJWK(p.key.Public()); err != nil {
			return nil, err
		}
	}
	return flatJWS(h, payload, ks.sign)
}

// flatJWS returns {"protected":…,"payload":…,"signature":…} (RFC 7515
// §7.2.2) for header h and payload, signed by sign over the JWS signing
// input (§5.1).
func flatJWS(h jwsHeader, payload []byte, sign func(input []byte) ([]byte, error)) ([]byte, error) {
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	enc := base64.RawURLEncoding
	input := make([]byte, 0, enc.EncodedLen(len(hj))+1+enc.EncodedLen(len(payload)))
	input = enc.AppendEncode(input, hj)
	input = append(input, '.')
	input = enc.AppendEncode(input, payload)
	sig, err := sign(input)
	if err != nil {
		return nil, fmt.Errorf("acme: signing: %w", err)
	}
	dot := enc.EncodedLen(len(hj))
	out := make([]byte, 0, len(input)+enc.EncodedLen(len(sig))+48)
	out = append(out, `{"protected":"`...)
	out = append(out, input[:dot]...)
	out = append(out, `","payload":"`...)
	out = append(out, input[dot+1:]...)
	out = append(out, `","signature":"`...)
	out = enc.AppendEncode(out, sig)
	out = append(out, `"}`...)
	return out, nil
}

// externalAccountBinding builds the EAB JWS of RFC 8555 §7.3.4: the
// account's public JWK, HS256-signed with the CA-provided MAC key, with kid
// the CA's key identifier and url the newAccount URL, and no nonce.
func externalAccountBinding(keyID string, hmacKey []byte, accountKey crypto.PublicKey, url string) ([]byte, error) {
	if len(hmacKey) == 0 {
		return nil, errors.New("acme: external account binding: empty MAC key")
	}
	jwk, err := publicJWK(accountKey)
	if err != nil {
		return nil, fmt.Errorf("acme: account key: %w", err)
	}
	b, err := flatJWS(jwsHeader{Alg: "HS256", Kid: keyID, URL: url}, jwk, func(input []byte) ([]byte, error) {
		m := hmac.New(sha256.New, hmacKey)
		m.Write(input)
		return m.Sum(nil), nil
	})
	if err != nil {
		return nil, fmt.Errorf("acme: external account binding: %w", err)
	}
	return b, nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint (SHA-256, base64url) of
// an RSA, ECDSA or Ed25519 public key.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	jwk, err := publicJWK(pub)
	if err != nil {
		return "", err
	}
	// publicJWK writes the required members only, in lexicographic
	// order, without white space: RFC 7638 §3.3's input.
	tp := sha256.Sum256(jwk)
	return base64.RawURLEncoding.EncodeToString(tp[:]), nil
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

// publicJWK returns the JSON JWK (RFC 7517) of a public key: its required
// members only (RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2), in lexicographic
// order and without white space, so that it is also the input of its
// RFC 7638 thumbprint.
func publicJWK(pub crypto.PublicKey) ([]byte, error) {
	if _, err := jwsAlgorithm(pub); err != nil {
		return nil, err
	}
	enc := base64.RawURLEncoding
	var b []byte
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		pt, err := k.Bytes() // 0x04 || X || Y, each of the curve's width
		if err != nil || len(pt) < 3 || pt[0] != 4 {
			return nil, fmt.Errorf("acme: invalid ECDSA public key: %v", err)
		}
		n := (len(pt) - 1) / 2
		b = append(b, `{"crv":"`...)
		b = append(b, k.Curve.Params().Name...)
		b = append(b, `","kty":"EC","x":"`...)
		b = enc.AppendEncode(b, pt[1:1+n])
		b = append(b, `","y":"`...)
		b = enc.AppendEncode(b, pt[1+n:])
	case *rsa.PublicKey:
		if k.N == nil || k.E <= 0 {
			return nil, errors.New("acme: invalid RSA public key")
		}
		b = append(b, `{"e":"`...)
		b = enc.AppendEncode(b, big.NewInt(int64(k.E)).Bytes())
		b = append(b, `","kty":"RSA","n":"`...)
		b = enc.AppendEncode(b, k.N.Bytes())
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, errors.New("acme: invalid Ed25519 public key")
		}
		b = append(b, `{"crv":"Ed25519","kty":"OKP","x":"`...)
		b = enc.AppendEncode(b, k)
	}
	return append(b, `"}`...), nil
}
