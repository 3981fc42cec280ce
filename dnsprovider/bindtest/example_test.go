package bindtest_test

import (
	"testing"

	"github.com/certkeeper/certkeeper/dnsprovider/bindtest"
)

func ExampleStart() {
	test := func(t *testing.T) {
		s := bindtest.Start(t, bindtest.Options{
			Keys:  []bindtest.Key{{Name: "acme-key", Algorithm: "hmac-sha256"}},
			Zones: []bindtest.Zone{{Name: "example.test", Records: []string{"www IN A 127.0.0.1"}}},
		})
		// Send RFC 2136 updates to s.Addr signed with s.Keys[0]; the
		// zone's NS, ns1.example.test, is 127.0.0.1 on port s.Port.
		_ = s.TXT(t, "_acme-challenge.www.example.test")
	}
	_ = test
}
