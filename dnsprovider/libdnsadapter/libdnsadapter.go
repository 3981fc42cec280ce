// Package libdnsadapter lets any libdns provider (github.com/libdns) write
// ACME challenge records for certkeeper: Provider turns a value that
// implements libdns.RecordAppender and libdns.RecordDeleter, such as
// &cloudflare.Provider{APIToken: "…"}, into a dns01.Provider.
//
// It is a module of its own so that libdns, and the provider SDKs that
// come with it, stay out of the dependency graph of certkeeper's core
// module.
package libdnsadapter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libdns/libdns"

	"github.com/certkeeper/certkeeper/solver/dns01"
)

// RecordProvider is what a libdns provider must implement to solve
// challenges: add records without touching others, and delete exactly the
// records given.
type RecordProvider interface {
	libdns.RecordAppender
	libdns.RecordDeleter
}

// Provider adapts a libdns provider to dns01.Provider. It is as safe for
// concurrent use as the libdns provider is (libdns requires it to be).
type Provider struct {
	// Records is the libdns provider. Required.
	Records RecordProvider
	// TTL of the records added. 0 means 60 seconds; some DNS hosts raise
	// it to their minimum.
	TTL time.Duration
}

var _ dns01.Provider = (*Provider)(nil)

// New returns a Provider for p with the default TTL.
func New(p RecordProvider) *Provider { return &Provider{Records: p} }

func (p *Provider) record(zone, fqdn, value string) (string, libdns.TXT, error) {
	if p.Records == nil {
		return "", libdns.TXT{}, errors.New("libdnsadapter: Provider.Records is nil")
	}
	if zone == "" {
		return "", libdns.TXT{}, fmt.Errorf("libdnsadapter: no zone given for %s", fqdn)
	}
	zone = strings.TrimSuffix(zone, ".") + "."
	fqdn = strings.TrimSuffix(fqdn, ".") + "."
	if !strings.HasSuffix(strings.ToLower(fqdn), "."+strings.ToLower(zone)) && !strings.EqualFold(fqdn, zone) {
		return "", libdns.TXT{}, fmt.Errorf("libdnsadapter: %s is not in zone %s", fqdn, zone)
	}
	ttl := p.TTL
	if ttl <= 0 {
		ttl = 60 * time.Second
	}
	return zone, libdns.TXT{Name: libdns.RelativeName(fqdn, zone), TTL: ttl, Text: value}, nil
}

// AddTXT appends the record with AppendRecords; zone is passed as libdns
// expects it, fully qualified, and the name relative to it.
func (p *Provider) AddTXT(ctx context.Context, zone, fqdn, value string) error {
	zone, rec, err := p.record(zone, fqdn, value)
	if err != nil {
		return err
	}
	if _, err := p.Records.AppendRecords(ctx, zone, []libdns.Record{rec}); err != nil {
		return fmt.Errorf("libdnsadapter: appending TXT %s in zone %s: %w", rec.Name, zone, err)
	}
	return nil
}

// RemoveTXT deletes the record with DeleteRecords, matching name, type,
// TTL and value, so other values at the name stay.
func (p *Provider) RemoveTXT(ctx context.Context, zone, fqdn, value string) error {
	zone, rec, err := p.record(zone, fqdn, value)
	if err != nil {
		return err
	}
	if _, err := p.Records.DeleteRecords(ctx, zone, []libdns.Record{rec}); err != nil {
		return fmt.Errorf("libdnsadapter: deleting TXT %s in zone %s: %w", rec.Name, zone, err)
	}
	return nil
}
