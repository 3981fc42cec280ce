package solver_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"sort"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/solver"
	"github.com/certkeeper/certkeeper/solver/dns01"
	"github.com/certkeeper/certkeeper/solver/http01"
	"github.com/certkeeper/certkeeper/solver/tlsalpn01"
)

// One solver per challenge type, as an order flow would take them.
func Example() {
	solvers := map[acme.ChallengeType]challenge.Solver{
		acme.ChallengeHTTP01:    http01.Webroot{Dir: "/var/www/html"},
		acme.ChallengeTLSALPN01: &tlsalpn01.Standalone{Addr: ":443"},
		acme.ChallengeDNS01:     dns01.Callback{ /* PresentFunc: your DNS provider */ },
	}
	var types []string
	for t, s := range solvers {
		_, waits := s.(challenge.Waiter)
		types = append(types, fmt.Sprintf("%s waiter=%v", t, waits))
	}
	sort.Strings(types)
	for _, t := range types {
		fmt.Println(t)
	}
	// Output:
	// dns-01 waiter=true
	// http-01 waiter=false
	// tls-alpn-01 waiter=false
}

// A tls-alpn-01 solver that installs the validation certificate on a load
// balancer of your own.
func ExampleCallback() {
	lb := map[string]tls.Certificate{} // stands for the load balancer's API
	sol := solver.Callback{
		PresentFunc: func(ctx context.Context, chal acme.Challenge) error {
			cert, err := challenge.TLSALPN01Certificate(chal.Identifier, chal.KeyAuthorization)
			if err != nil {
				return err
			}
			lb[challenge.TLSALPN01ServerName(chal.Identifier)] = cert
			return nil
		},
		CleanUpFunc: func(ctx context.Context, chal acme.Challenge) error {
			delete(lb, challenge.TLSALPN01ServerName(chal.Identifier))
			return nil
		},
	}
	chal := acme.Challenge{Type: acme.ChallengeTLSALPN01, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}, KeyAuthorization: "token.thumbprint"}
	_ = sol.Present(context.Background(), chal)
	fmt.Println(len(lb), lb["example.com"].Leaf.DNSNames)
	_ = sol.CleanUp(context.Background(), chal)
	fmt.Println(len(lb))
	// Output:
	// 1 [example.com]
	// 0
}
