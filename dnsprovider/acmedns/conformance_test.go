package acmedns_test

import (
	"net/http/httptest"
	"testing"

	"github.com/certkeeper/certkeeper/dnsprovider/acmedns"
	"github.com/certkeeper/certkeeper/dnsprovider/bindtest"
	"github.com/certkeeper/certkeeper/dnsprovider/providertest"
	"github.com/certkeeper/certkeeper/dnsprovider/rfc2136"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// TestConformance runs providertest against the provider and the acme-dns
// stub, which publishes each account's two latest values in BIND. acme-dns
// has no delete (NoRemove), and writes only its accounts' names.
func TestConformance(t *testing.T) {
	b := bindtest.Start(t, bindtest.Options{Keys: []bindtest.Key{{Name: "acme-dns-key"}}, Zones: []bindtest.Zone{{Name: "other.test"}}})
	k := b.Keys[0]
	st := &stub{t: t, domain: "auth.other.test", accounts: map[string]acmedns.Account{}, values: map[string][]string{},
		dns: &rfc2136.Provider{Server: b.Addr, Key: rfc2136.Key{Name: k.Name, Algorithm: k.Algorithm, Secret: k.Secret}}}
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)
	c := &acmedns.Client{Server: srv.URL}
	accounts := map[string]acmedns.Account{}
	var names []string
	for _, d := range []string{"a.example.test", "b.example.test", "c.example.test"} {
		a, err := c.Register(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		accounts[d] = a
		names = append(names, a.FullDomain+".")
	}
	providertest.Run(t, providertest.Harness{
		New:      func(t *testing.T) dns01.Provider { return &acmedns.Provider{Client: c, Accounts: accounts} },
		Lookup:   providertest.LookupTXT(b.Addr),
		Names:    names,
		NoRemove: true,
	})
}
