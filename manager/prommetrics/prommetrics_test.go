package prommetrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/prommetrics"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := prommetrics.New(reg)
	at := time.Unix(1800000000, 0)
	m.ObserveExpiry("a.example.com", at)
	m.RenewalAttempt("a.example.com")
	m.RenewalAttempt("a.example.com")
	m.RenewalFailure("a.example.com")
	m.LastSuccess("a.example.com", at)
	m.OrderDuration(2 * time.Second)
	m.ObserveRequest(acme.RequestInfo{Endpoint: "newOrder", Status: 201})
	m.ObserveRequest(acme.RequestInfo{Endpoint: "newOrder"})
	m.Alarm("a.example.com", manager.EventPanic)
	m.Alarm("a.example.com", manager.EventPanic)
	m.Alarm("a.example.com", manager.EventExpiringSoon)
	want := `
# HELP certkeeper_certificate_not_after_seconds Expiry of the certificate held, as a Unix time.
# TYPE certkeeper_certificate_not_after_seconds gauge
certkeeper_certificate_not_after_seconds{name="a.example.com"} 1.8e+09
# HELP certkeeper_renewal_attempts_total Orders started, first issuance included.
# TYPE certkeeper_renewal_attempts_total counter
certkeeper_renewal_attempts_total{name="a.example.com"} 2
# HELP certkeeper_renewal_failures_total Orders and renewal attempts that failed.
# TYPE certkeeper_renewal_failures_total counter
certkeeper_renewal_failures_total{name="a.example.com"} 1
# HELP certkeeper_acme_requests_total HTTP exchanges with the ACME server by endpoint and status.
# TYPE certkeeper_acme_requests_total counter
certkeeper_acme_requests_total{endpoint="newOrder",status="201"} 1
certkeeper_acme_requests_total{endpoint="newOrder",status="error"} 1
# HELP certkeeper_alarms_total Alarms raised (type panic or expiring_soon), each time one is raised.
# TYPE certkeeper_alarms_total counter
certkeeper_alarms_total{name="a.example.com",type="expiring_soon"} 1
certkeeper_alarms_total{name="a.example.com",type="panic"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"certkeeper_certificate_not_after_seconds", "certkeeper_renewal_attempts_total",
		"certkeeper_renewal_failures_total", "certkeeper_acme_requests_total", "certkeeper_alarms_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "certkeeper_order_duration_seconds"); n != 1 {
		t.Errorf("order duration: %d series", n)
	}
	m.Forget("a.example.com")
	for _, name := range []string{"certkeeper_renewal_attempts_total", "certkeeper_alarms_total"} {
		if n := testutil.CollectAndCount(reg, name); n != 0 {
			t.Errorf("%s: %d series after Forget", name, n)
		}
	}
}
