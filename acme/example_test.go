package acme_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log"
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// Example obtains a certificate step by step: register, order, solve one
// challenge per authorization, finalize and download. The porcelain layer
// does the same with storage, solvers and policy around it.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	c := &acme.Client{DirectoryURL: "https://acme-staging-v02.api.letsencrypt.org/directory"}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	acct, err := c.NewAccount(ctx, acme.Account{Key: key, Contact: []string{"mailto:admin@example.org"}, TermsOfServiceAgreed: true})
	if err != nil {
		log.Fatal(err)
	}
	order, err := c.NewOrder(ctx, acct, []acme.Identifier{acme.DNSIdentifier("example.org")})
	if err != nil {
		log.Fatal(err)
	}
	for _, u := range order.Authorizations {
		authz, err := c.GetAuthorization(ctx, acct, u)
		if err != nil {
			log.Fatal(err)
		}
		for _, ch := range authz.Challenges {
			if ch.Type != acme.ChallengeDNS01 {
				continue
			}
			fmt.Printf("_acme-challenge.%s TXT %q\n", ch.Identifier.Value, acme.DNS01Value(ch.KeyAuthorization))
			// ... publish the record, then:
			if _, err := c.AcceptChallenge(ctx, acct, ch); err != nil {
				log.Fatal(err)
			}
		}
		if _, err := c.WaitAuthorization(ctx, acct, u); err != nil {
			log.Fatal(err)
		}
	}
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "example.org"}, DNSNames: []string{"example.org"},
	}, certKey)
	if order, err = c.FinalizeOrder(ctx, acct, order, csr); err != nil {
		log.Fatal(err)
	}
	if order, err = c.WaitOrder(ctx, acct, order.URL); err != nil {
		log.Fatal(err) // an *acme.OrderError quotes the CA's reasons
	}
	chains, err := c.GetCertificateChains(ctx, acct, order.CertificateURL)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d chains; leaf expires %v\n", len(chains), chains[0].Certificates[0].NotAfter)
}

func ExampleDNSAccountLabel() {
	fmt.Println(acme.DNSAccountLabel("https://example.com/acme/acct/ExampleAccount") + "._acme-challenge.example.org")
	// Output: _ujmmovf2vn55tgye._acme-challenge.example.org
}

func ExampleIsRateLimited() {
	err := error(&acme.Problem{Type: acme.ProblemRateLimited, Status: 429, RetryAfter: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	if acme.IsRateLimited(err) {
		at, _ := acme.RetryAfter(err)
		fmt.Println("rate limited until", at.Format(time.RFC3339))
	}
	// Output: rate limited until 2030-01-01T00:00:00Z
}
