package webhook_test

import (
	"net/http"

	"github.com/certkeeper/certkeeper/dnsprovider/webhook"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

func ExampleProvider() {
	solver := &dns01.Solver{Provider: &webhook.Provider{
		URL:    "https://dns-hook.internal.example/acme",
		Header: http.Header{"Authorization": {"Bearer TOKEN"}},
	}}
	_ = solver
}
