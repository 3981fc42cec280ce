package rfc2136_test

import (
	"testing"

	"github.com/certkeeper/certkeeper/dnsprovider/providertest"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// TestConformance runs providertest against the provider writing to BIND
// with TSIG, read back by queries to the same server.
func TestConformance(t *testing.T) {
	b := startBIND(t)
	providertest.Run(t, providertest.Harness{
		New:    func(t *testing.T) dns01.Provider { return provider(b, b.Keys[0]) },
		Lookup: providertest.LookupTXT(b.Addr),
		Zone:   "example.test.",
	})
}
