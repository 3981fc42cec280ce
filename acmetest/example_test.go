package acmetest_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
)

// Example starts Pebble with two certificate profiles, publishes a dns-01
// record on the DNS server Pebble resolves through, and puts a fault
// proxy in front that answers the first newOrder with 429.
func Example() {
	ctx := context.Background()
	pebble, err := acmetest.StartPebble(ctx, acmetest.PebbleOptions{
		NonceRejectPercent: 10, // exercise the client's badNonce retry
		Profiles: map[string]acmetest.Profile{
			"default":    {Description: "90 days", ValidityPeriod: 90 * 24 * time.Hour},
			"shortlived": {Description: "6 days", ValidityPeriod: 6 * 24 * time.Hour},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer pebble.Close()

	// A dns-01 solver under test would do this.
	pebble.DNS.SetTXT("_acme-challenge.www.example.test", "key-authorization-digest")

	proxy, err := pebble.NewFaultProxy()
	if err != nil {
		log.Fatal(err)
	}
	defer proxy.Close()
	proxy.SetRules(acmetest.Rule{
		Method: "POST", PathPrefix: "/order-plz",
		Fault: acmetest.Status429RetryAfter, Nth: 1, RetryAfter: 2 * time.Second,
		ReplayNonce: true,
	})

	// Point the ACME client at proxy.URL with proxy.HTTPClient(), serve
	// http-01 on pebble.HTTPPort, verify chains with pebble.Roots(); then:
	fmt.Println(len(proxy.RetryAfterViolations()), "requests ignored a Retry-After")
}
