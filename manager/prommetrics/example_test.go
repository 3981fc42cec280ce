package prommetrics_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/prommetrics"
)

// Metrics go to a Prometheus registry: give them to the manager, and the
// ACME client's requests too. Serve the registry with promhttp.
func Example() {
	reg := prometheus.NewRegistry()
	m := prommetrics.New(reg)
	client := &acme.Client{DirectoryURL: "https://acme.example.com/directory", OnRequest: m.ObserveRequest}
	_, _ = manager.New(manager.Config{Metrics: m /* , Store: ... */})
	_ = client

	// What the manager reports as it works:
	m.ObserveExpiry("www.example.com", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	m.ObserveRequest(acme.RequestInfo{Endpoint: "newOrder", Status: 201})
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP certkeeper_certificate_not_after_seconds Expiry of the certificate held, as a Unix time.
# TYPE certkeeper_certificate_not_after_seconds gauge
certkeeper_certificate_not_after_seconds{name="www.example.com"} 1.7987616e+09
`), "certkeeper_certificate_not_after_seconds")
	fmt.Println(err)
	// Output: <nil>
}
