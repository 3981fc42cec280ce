package providertest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/certkeeper/certkeeper/dnsprovider/providertest"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// memProvider is a provider for a DNS host kept in memory, standing in for
// yours.
type memProvider struct {
	mu      sync.Mutex
	records map[string][]string
}

func (p *memProvider) AddTXT(ctx context.Context, zone, fqdn, value string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records[fqdn] = append(p.records[fqdn], value)
	return nil
}

func (p *memProvider) RemoveTXT(ctx context.Context, zone, fqdn, value string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records[fqdn] = slices.DeleteFunc(p.records[fqdn], func(v string) bool { return v == value })
	return nil
}

func (p *memProvider) lookup(ctx context.Context, fqdn string) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.records[fqdn]), nil
}

// TestMyProvider is how a provider's own test runs the suite.
func TestMyProvider(t *testing.T) {
	host := &memProvider{records: map[string][]string{}}
	providertest.Run(t, providertest.Harness{
		New:    func(t *testing.T) dns01.Provider { return host },
		Lookup: host.lookup,
		Zone:   "example.test.",
	})
}

// ExampleValue shows the shape of the values the suite writes.
func ExampleValue() {
	fmt.Println(len(providertest.Value()))
	// Output: 43
}
