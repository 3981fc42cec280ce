package acmedns_test

import (
	"context"
	"fmt"
	"os"

	"github.com/certkeeper/certkeeper/dnsprovider/acmedns"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

func ExampleClient_Register() {
	c := &acmedns.Client{Server: "https://auth.acme-dns.io"}
	acct, err := c.Register(context.Background(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("create: _acme-challenge.example.com. CNAME %s.\n", acct.FullDomain)
}

func ExampleProvider() {
	data, err := os.ReadFile("/etc/certkeeper/acmedns.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	accounts, err := acmedns.LoadAccounts(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	solver := &dns01.Solver{Provider: &acmedns.Provider{
		Client:   &acmedns.Client{Server: "https://auth.acme-dns.io"},
		Accounts: accounts,
	}}
	_ = solver
}
