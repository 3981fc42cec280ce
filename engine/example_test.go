package engine_test

import (
	"context"
	"fmt"
	"log"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/solver/solverset"
	"github.com/certkeeper/certkeeper/store"
)

// Obtain a certificate once, recording how, then renew whatever is due, as
// "certkeeper obtain" and "certkeeper renew" (from cron) do.
func Example() {
	ctx := context.Background()
	dir, err := store.NewDir("/var/lib/certkeeper")
	if err != nil {
		log.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Store: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()

	l := store.Lineage{
		CA:          acme.LetsEncryptStagingURL,
		Identifiers: []string{"example.com", "www.example.com"},
		KeyType:     "ec256",
	}
	if err := engine.SetSolvers(&l, solverset.Config{HTTP01: &solverset.HTTP01{Listen: ":80"}}); err != nil {
		log.Fatal(err)
	}
	r, err := eng.Obtain(ctx, engine.Request{
		Lineage: l,
		Account: engine.AccountOptions{Contact: []string{"mailto:admin@example.com"}, AgreeTOS: true},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Outcome, r.Name, r.NotAfter)

	// Later, from another process: renew what is due, as obtained.
	results, err := eng.Renew(ctx, engine.RenewOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		fmt.Println(r.Name, r.Outcome, r.Err)
	}
}
