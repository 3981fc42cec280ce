package solver_test

import (
	"fmt"
	"sort"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
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
