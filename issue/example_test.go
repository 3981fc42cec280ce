package issue_test

import (
	"context"
	"fmt"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/solver/http01"
)

// Example obtains a certificate for two names, answering http-01 with the
// built-in server on port 80.
func Example() {
	ctx := context.Background()
	client := &acme.Client{DirectoryURL: "https://acme-staging-v02.api.letsencrypt.org/directory"}
	key, _ := keys.Generate(keys.EC256)
	account, err := client.NewAccount(ctx, acme.Account{Key: key, TermsOfServiceAgreed: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	ids, err := issue.ParseIdentifiers("example.com", "www.example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	is := &issue.Issuer{
		Client:  client,
		Account: account,
		Solvers: map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: &http01.Standalone{Addr: ":80"}},
	}
	cert, err := is.Obtain(ctx, issue.Request{Identifiers: ids, KeyType: keys.EC256})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cert.Leaf.NotAfter)
}

func ExampleParseIdentifiers() {
	ids, err := issue.ParseIdentifiers("Bücher.example", "*.example.com", "192.0.2.1", "bücher.example.")
	fmt.Println(ids, err)
	// Output: [{dns xn--bcher-kva.example} {dns *.example.com} {ip 192.0.2.1}] <nil>
}
