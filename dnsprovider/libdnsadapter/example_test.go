package libdnsadapter_test

import (
	"context"

	"github.com/libdns/libdns"

	"github.com/certkeeper/certkeeper/dnsprovider/libdnsadapter"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// myHost stands for any libdns provider, e.g. &cloudflare.Provider{APIToken: "…"}.
type myHost struct{}

func (myHost) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return recs, nil
}

func (myHost) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return recs, nil
}

func ExampleNew() {
	solver := &dns01.Solver{Provider: libdnsadapter.New(myHost{})}
	_ = solver
}
