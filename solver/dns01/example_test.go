package dns01_test

import (
	"context"
	"fmt"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

func ExampleCallback() {
	solver := dns01.Callback{
		PresentFunc: func(ctx context.Context, chal acme.Challenge) error {
			name, value, err := challenge.RecordFor(chal)
			if err != nil {
				return err
			}
			// Call the DNS provider's API here.
			fmt.Printf("add %s 60 IN TXT %q\n", name, value)
			return nil
		},
		CleanUpFunc: func(ctx context.Context, chal acme.Challenge) error {
			name, value, _ := challenge.RecordFor(chal)
			fmt.Printf("delete %s TXT %q\n", name, value)
			return nil
		},
		PropagationDelay: 10 * time.Millisecond,
		// Check: func(ctx context.Context, c acme.Challenge) error {
		// 	return dns01.SelfCheck(ctx, "ns1.example.net:53", c)
		// },
	}
	chal := acme.Challenge{
		Type:             acme.ChallengeDNS01,
		Identifier:       acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"},
		Wildcard:         true,
		KeyAuthorization: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI",
	}
	ctx := context.Background()
	if err := solver.Present(ctx, chal); err != nil {
		fmt.Println(err)
		return
	}
	defer solver.CleanUp(ctx, chal)
	if err := solver.Wait(ctx, chal); err != nil {
		fmt.Println(err)
	}
	// Output:
	// add _acme-challenge.example.com. 60 IN TXT "lCM7cZyQXcVHK2nnW3jjAhNT3Fvm18UN-kWZZknKoYM"
	// delete _acme-challenge.example.com. TXT "lCM7cZyQXcVHK2nnW3jjAhNT3Fvm18UN-kWZZknKoYM"
}

// memProvider keeps records in a map; a real one calls a DNS host's API.
type memProvider map[string][]string

func (m memProvider) AddTXT(_ context.Context, zone, fqdn, value string) error {
	fmt.Printf("add %s TXT %q (zone %s)\n", fqdn, value, zone)
	m[fqdn] = append(m[fqdn], value)
	return nil
}

func (m memProvider) RemoveTXT(_ context.Context, zone, fqdn, value string) error {
	fmt.Printf("remove %s TXT %q\n", fqdn, value)
	return nil
}

func ExampleSolver() {
	solver := &dns01.Solver{
		Provider: memProvider{},
		// Where zones, CNAMEs and name servers are looked up.
		Resolver: dns01.Resolver{Servers: []string{"127.0.0.1:53"}},
		// Ask every authoritative server (the zone's NS) every 2 s for up
		// to 2 minutes before the CA is told to validate.
		Propagation: dns01.Propagation{Interval: 2 * time.Second, Timeout: 2 * time.Minute},
	}
	// Give it to the order flow, e.g.
	//	issue.Issuer{Solvers: map[acme.ChallengeType]challenge.Solver{acme.ChallengeDNS01: solver}}
	_ = solver
}

func ExamplePropagation_Wait() {
	r := &dns01.Resolver{Servers: []string{"1.1.1.1:53"}}
	p := dns01.Propagation{Resolvers: []string{"8.8.8.8:53"}, Timeout: time.Minute}
	ctx := context.Background()
	zone, err := r.FindZone(ctx, "_acme-challenge.www.example.com.")
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Wait(ctx, r, zone, "_acme-challenge.www.example.com.", "value"); err != nil {
		// A *PropagationError lists what each server answered.
		fmt.Println(err)
	}
}
