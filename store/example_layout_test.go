package store_test

import (
	"fmt"

	"github.com/certkeeper/certkeeper/store"
)

// Programs sharing a store take the same locks, whatever its layout: ask
// Certs for their names rather than build them.
func ExampleCerts_ObtainLock() {
	c := &store.Certs{Store: store.NewMemory()}
	const ca = "https://ca.example.test/directory"
	obtain, _ := c.ObtainLock(ca, "*.example.test")
	account, _ := c.AccountLock(ca, "")
	deactivated, _ := c.AccountDeactivatedKey(ca, "")
	fmt.Println(obtain)
	fmt.Println(account)
	fmt.Println(deactivated)

	shared := &store.Certs{Store: store.NewMemory(), Layout: store.LayoutShared}
	deactivated, _ = shared.AccountDeactivatedKey(ca, "")
	fmt.Println(deactivated)
	// Output:
	// obtain/ca.example.test_directory/_wildcard_.example.test
	// account/ca.example.test_directory/default
	// accounts/ca.example.test_directory/default/deactivated
	// certkeeper/accounts/deactivated
}
