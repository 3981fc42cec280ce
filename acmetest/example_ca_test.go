package acmetest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
)

// ExampleStartCA obtains a certificate from the in-process fake CA with a
// solver that does nothing (the CA approves validations itself), on a
// fake clock, then fails the next validation on purpose.
func ExampleStartCA() {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, err := acmetest.StartCA(acmetest.CAOptions{Now: func() time.Time { return now }})
	if err != nil {
		log.Fatal(err)
	}
	defer ca.Close()

	ctx := context.Background()
	client := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	acct, err := client.NewAccount(ctx, acme.Account{Key: key, TermsOfServiceAgreed: true})
	if err != nil {
		log.Fatal(err)
	}
	iss := &issue.Issuer{Client: client, Account: acct,
		Solvers: map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: &acmetest.NullSolver{}}}
	ids, _ := issue.ParseIdentifiers("www.example.test")

	cert, err := iss.Obtain(ctx, issue.Request{Identifiers: ids})
	if err != nil {
		log.Fatal(err)
	}
	_, err = cert.Leaf.Verify(x509.VerifyOptions{DNSName: "www.example.test", Roots: ca.Roots(),
		Intermediates: pool(ca.Intermediates()), CurrentTime: now})
	fmt.Println("verified:", err == nil, "expires:", cert.Leaf.NotAfter.Format(time.DateOnly))

	ca.FailValidations("www.example.test", acme.Problem{Type: acme.ProblemCAA, Detail: "CAA forbids this CA"})
	_, err = iss.Obtain(ctx, issue.Request{Identifiers: ids})
	var p *acme.Problem
	fmt.Println("refused:", errors.As(err, &p) && p.Type == acme.ProblemCAA)
	// Output:
	// verified: true expires: 2030-03-31
	// refused: true
}

// ExampleCA_InjectFault makes the next newOrder answer 503 with
// Retry-After: the client waits and tries again.
func ExampleCA_InjectFault() {
	ca, err := acmetest.StartCA(acmetest.CAOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer ca.Close()
	ca.InjectFault(acmetest.EndpointNewOrder, 1, acmetest.CAFault{Fault: acmetest.Status503RetryAfter, RetryAfter: time.Second})

	ctx := context.Background()
	client := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	acct, err := client.NewAccount(ctx, acme.Account{Key: key, TermsOfServiceAgreed: true})
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.NewOrder(ctx, acct, []acme.Identifier{acme.DNSIdentifier("example.test")})
	fmt.Println(err, ca.Requests(acmetest.EndpointNewOrder))
	// Output: <nil> 2
}

// ExampleCA_HoldValidations pauses validations, as txacme's
// FakeClientController does, and decides one.
func ExampleCA_HoldValidations() {
	ca, err := acmetest.StartCA(acmetest.CAOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer ca.Close()
	ca.HoldValidations()

	ctx := context.Background()
	client := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	acct, _ := client.NewAccount(ctx, acme.Account{Key: key, TermsOfServiceAgreed: true})
	iss := &issue.Issuer{Client: client, Account: acct,
		Solvers: map[acme.ChallengeType]challenge.Solver{acme.ChallengeDNS01: &acmetest.NullSolver{}}}
	ids, _ := issue.ParseIdentifiers("*.example.test")
	done := make(chan error)
	go func() {
		_, err := iss.Obtain(ctx, issue.Request{Identifiers: ids})
		done <- err
	}()

	v, err := ca.NextHeld(ctx) // the order is waiting on this validation
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("held:", v.Challenge, v.Identifier.Value)
	v.Approve()
	fmt.Println("issued:", <-done == nil)
	// Output:
	// held: dns-01 example.test
	// issued: true
}
