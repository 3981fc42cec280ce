// Package prommetrics exposes a manager.Manager's measurements and an
// acme.Client's requests as Prometheus metrics.
//
//	reg := prometheus.NewRegistry()
//	pm := prommetrics.New(reg)
//	client := &acme.Client{DirectoryURL: url, OnRequest: pm.ObserveRequest}
//	m, err := manager.New(manager.Config{Store: st, Metrics: pm})
package prommetrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/manager"
)

// Metrics implements manager.Metrics with Prometheus collectors:
//
//	certkeeper_certificate_not_after_seconds{name}      gauge, Unix time
//	certkeeper_renewal_attempts_total{name}             counter
//	certkeeper_renewal_failures_total{name}             counter
//	certkeeper_last_success_timestamp_seconds{name}     gauge, Unix time
//	certkeeper_order_duration_seconds                   histogram
//	certkeeper_acme_requests_total{endpoint,status}     counter
//	certkeeper_alarms_total{name,type}                  counter
//
// status is the HTTP status code, or "error" when no response came.
type Metrics struct {
	notAfter      *prometheus.GaugeVec
	attempts      *prometheus.CounterVec
	failures      *prometheus.CounterVec
	lastSuccess   *prometheus.GaugeVec
	orderDuration prometheus.Histogram
	requests      *prometheus.CounterVec
	alarms        *prometheus.CounterVec
}

var (
	_ manager.Metrics      = (*Metrics)(nil)
	_ manager.AlarmMetrics = (*Metrics)(nil)
)

// New makes the collectors and registers them with reg (nil registers
// nothing, for tests that collect by hand). It panics if they are
// registered already, as prometheus.MustRegister does.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		notAfter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "certkeeper_certificate_not_after_seconds",
			Help: "Expiry of the certificate held, as a Unix time.",
		}, []string{"name"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certkeeper_renewal_attempts_total",
			Help: "Orders started, first issuance included.",
		}, []string{"name"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certkeeper_renewal_failures_total",
			Help: "Orders and renewal attempts that failed.",
		}, []string{"name"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "certkeeper_last_success_timestamp_seconds",
			Help: "When an order last succeeded, as a Unix time.",
		}, []string{"name"}),
		orderDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "certkeeper_order_duration_seconds",
			Help:    "Duration of one order, success or not.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certkeeper_acme_requests_total",
			Help: "HTTP exchanges with the ACME server by endpoint and status.",
		}, []string{"endpoint", "status"}),
		alarms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certkeeper_alarms_total",
			Help: "Alarms raised (type panic or expiring_soon), each time one is raised.",
		}, []string{"name", "type"}),
	}
	if reg != nil {
		reg.MustRegister(m.notAfter, m.attempts, m.failures, m.lastSuccess, m.orderDuration, m.requests, m.alarms)
	}
	return m
}

// Alarm counts an EventPanic or EventExpiringSoon in
// certkeeper_alarms_total.
func (m *Metrics) Alarm(name string, typ manager.EventType) {
	m.alarms.WithLabelValues(name, string(typ)).Inc()
}

// ObserveExpiry sets certkeeper_certificate_not_after_seconds.
func (m *Metrics) ObserveExpiry(name string, notAfter time.Time) {
	m.notAfter.WithLabelValues(name).Set(unix(notAfter))
}

// RenewalAttempt counts in certkeeper_renewal_attempts_total.
func (m *Metrics) RenewalAttempt(name string) { m.attempts.WithLabelValues(name).Inc() }

// RenewalFailure counts in certkeeper_renewal_failures_total.
func (m *Metrics) RenewalFailure(name string) { m.failures.WithLabelValues(name).Inc() }

// LastSuccess sets certkeeper_last_success_timestamp_seconds.
func (m *Metrics) LastSuccess(name string, t time.Time) {
	m.lastSuccess.WithLabelValues(name).Set(unix(t))
}

// OrderDuration observes certkeeper_order_duration_seconds.
func (m *Metrics) OrderDuration(d time.Duration) { m.orderDuration.Observe(d.Seconds()) }

// ObserveRequest counts in certkeeper_acme_requests_total; set it as
// acme.Client.OnRequest.
func (m *Metrics) ObserveRequest(ri acme.RequestInfo) {
	status := "error"
	if ri.Status != 0 {
		status = strconv.Itoa(ri.Status)
	}
	m.requests.WithLabelValues(ri.Endpoint, status).Inc()
}

// Forget drops the series of a certificate no longer managed.
func (m *Metrics) Forget(name string) {
	for _, v := range []interface{ DeleteLabelValues(...string) bool }{m.notAfter, m.attempts, m.failures, m.lastSuccess} {
		v.DeleteLabelValues(name)
	}
	m.alarms.DeletePartialMatch(prometheus.Labels{"name": name})
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
