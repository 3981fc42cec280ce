package challenge

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
)

// rfc7638KeyAuth is the key authorization of the token of RFC 8555 §8.3's
// example with the account key of RFC 7638 §3.1, whose thumbprint that
// RFC gives (NzbLsXh8...). acme's TestKeyAuthorizationAndDNS01 computes it
// from the key.
const rfc7638KeyAuth = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

// TestRFCValuesKAT checks each value the CA compares against a vector made
// outside Go, so that challenge and acme (which computes the dns-01 value
// and the account label) cannot drift apart or both be wrong.
func TestRFCValuesKAT(t *testing.T) {
	// printf %s "$ka" | openssl dgst -sha256 -binary | basenc --base64url | tr -d =
	if got, want := DNS01Value(rfc7638KeyAuth), "ZTRx1Ckl1-tM05o5zaizTTA0yUy5AGereMgSNWC6Ll8"; got != want {
		t.Errorf("DNS01Value = %s, want %s", got, want)
	}
	// draft-ietf-acme-dns-account-label-00 §3.2 example.
	if got, want := DNSAccount01Name("*.example.org", "https://example.com/acme/acct/ExampleAccount"), "_ujmmovf2vn55tgye._acme-challenge.example.org."; got != want {
		t.Errorf("DNSAccount01Name = %s, want %s", got, want)
	}
	// printf %s "$ka" | openssl dgst -sha256 -binary | od -An -tx1, wrapped
	// as DER by: openssl asn1parse -genstr "FORMAT:HEX,OCTETSTRING:<digest>" -out x.der
	want, _ := hex.DecodeString("0420653471d42925d7eb4cd39a39cda8b34d3034c94cb90067ab78c8123560ba2e5f")
	if got := TLSALPN01ExtensionValue(rfc7638KeyAuth); !bytes.Equal(got, want) {
		t.Errorf("TLSALPN01ExtensionValue = %x, want %x", got, want)
	}
	cert, err := TLSALPN01Certificate(acmeDNS("example.com"), rfc7638KeyAuth)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range cert.Leaf.Extensions {
		if e.Id.Equal(OIDACMEIdentifier()) {
			n++
			if !e.Critical || !bytes.Equal(e.Value, want) {
				t.Errorf("certificate's acmeIdentifier: critical %v, value %x; want critical, %x", e.Critical, e.Value, want)
			}
		}
	}
	if n != 1 {
		t.Errorf("certificate has %d acmeIdentifier extensions, want 1", n)
	}
	if got := OIDACMEIdentifier().String(); got != "1.3.6.1.5.5.7.1.31" {
		t.Errorf("OIDACMEIdentifier = %s", got)
	}
}

func acmeDNS(name string) acme.Identifier {
	return acme.Identifier{Type: acme.IdentifierDNS, Value: name}
}
