package acmetest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
)

// ExampleNewMemoryCA talks to a fake CA that has no listener: the
// client's requests call the CA's handler directly. In a test, do this
// inside synctest.Test so that every wait runs on the bubble's clock (see
// NewMemoryCA).
func ExampleNewMemoryCA() {
	ca, err := acmetest.NewMemoryCA(acmetest.CAOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer ca.Close()
	client := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	acct, err := client.NewAccount(context.Background(), acme.Account{Key: key, TermsOfServiceAgreed: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ca.DirectoryURL, acct.Status, ca.Requests(acmetest.EndpointNewAccount))
	// Output: https://acme.example.test/dir valid 1
}
