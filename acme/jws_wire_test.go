package acme

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// The JWK and thumbprint written by hand are those of go-jose for every
// key type the client signs with, and every JWS it writes verifies with
// go-jose under the key, with the header RFC 8555 §6.2 asks for.
func TestJWSMatchesGoJose(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	keys := map[string]crypto.Signer{"RS256": rsaKey, "EdDSA": edKey}
	for alg, c := range map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[alg] = k
	}
	for alg, k := range keys {
		t.Run(alg, func(t *testing.T) {
			ref := &jose.JSONWebKey{Key: k.Public()}
			want, err := ref.Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Thumbprint(k.Public())
			if err != nil {
				t.Fatal(err)
			}
			if got != base64.RawURLEncoding.EncodeToString(want) {
				t.Errorf("Thumbprint = %s, go-jose says %s", got, base64.RawURLEncoding.EncodeToString(want))
			}
			for _, kid := range []string{"", "https://ca.example.test/acct/1"} {
				b, err := signJWS(jwsParams{key: k, kid: kid, nonce: "bm9uY2U", url: "https://ca.example.test/new-order"}, []byte(`{"a":1}`))
				if err != nil {
					t.Fatal(err)
				}
				jws, err := jose.ParseSigned(string(b), []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
				if err != nil {
					t.Fatalf("go-jose cannot parse %s: %v", b, err)
				}
				payload, err := jws.Verify(k.Public())
				if err != nil || string(payload) != `{"a":1}` {
					t.Fatalf("verify: %q, %v", payload, err)
				}
				h := jws.Signatures[0].Protected
				if h.Algorithm != alg || h.Nonce != "bm9uY2U" || h.ExtraHeaders["url"] != "https://ca.example.test/new-order" || h.KeyID != kid {
					t.Errorf("header %+v", h)
				}
				if (kid == "") != (h.JSONWebKey != nil) {
					t.Errorf("kid %q with jwk %v: want exactly one", kid, h.JSONWebKey)
				}
				var flat map[string]json.RawMessage
				if err := json.Unmarshal(b, &flat); err != nil || len(flat) != 3 {
					t.Errorf("not a flattened JWS of protected, payload, signature: %s", b)
				}
			}
		})
	}
}
