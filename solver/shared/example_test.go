package shared_test

import (
	"context"
	"crypto/tls"
	"net/http"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/solver/shared"
	"github.com/certkeeper/certkeeper/store"
)

// Every instance behind the load balancer uses the same shared store (an
// etcd store in production) and serves its challenges from there.
func Example() {
	var st store.Store = store.NewMemory() // etcdstore.Open(...) in a cluster
	sol := &shared.Solver{Store: st}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sol.Watch(ctx) // keeps the cache fresh when the store is a store.Watcher

	// The issuer of this instance presents through the store...
	is := &issue.Issuer{Solvers: map[acme.ChallengeType]challenge.Solver{
		acme.ChallengeHTTP01:    sol,
		acme.ChallengeTLSALPN01: sol,
	}}
	_ = is
	// ...and its servers answer what any instance presented.
	http.Handle("/", sol.HTTPHandler(http.NotFoundHandler()))
	_ = &tls.Config{
		NextProtos: []string{"h2", "http/1.1", challenge.ALPNProto},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c, ok := sol.GetCertificate(hello); ok {
				return c, nil
			}
			return nil, nil // the site's own certificates
		},
	}
	// Output:
}
