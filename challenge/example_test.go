package challenge_test

import (
	"fmt"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

func Example() {
	chal := acme.Challenge{
		Type:             acme.ChallengeDNS01,
		Token:            "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA",
		Identifier:       acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"},
		Wildcard:         true,
		KeyAuthorization: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI",
		AccountURL:       "https://example.com/acme/acct/1",
	}
	name, value, err := challenge.RecordFor(chal)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(name, "TXT", value)

	chal.Type = acme.ChallengeDNSAccount01
	name, _, _ = challenge.RecordFor(chal)
	fmt.Println(name)

	fmt.Println(challenge.HTTP01Path(chal.Token))
	// Output:
	// _acme-challenge.example.com. TXT lCM7cZyQXcVHK2nnW3jjAhNT3Fvm18UN-kWZZknKoYM
	// _vrr7uudrklshxb6l._acme-challenge.example.com.
	// /.well-known/acme-challenge/evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA
}

func ExampleTLSALPN01Certificate() {
	id := acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}
	keyAuth := "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
	cert, err := challenge.TLSALPN01Certificate(id, keyAuth)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ext := range cert.Leaf.Extensions {
		if ext.Id.Equal(challenge.OIDACMEIdentifier()) {
			fmt.Printf("%v critical=%v %x\n", ext.Id, ext.Critical, ext.Value[:4])
		}
	}
	fmt.Println(cert.Leaf.DNSNames)
	// Output:
	// 1.3.6.1.5.5.7.1.31 critical=true 04209423
	// [example.com]
}
