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
		// 	return challenge.CheckDNS01(ctx, "ns1.example.net:53", c)
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
