package manager

import (
	"time"

	"github.com/certkeeper/certkeeper/acme"
)

// Metrics receives measurements from a Manager. Every method is called
// synchronously, possibly from several goroutines at once, and must not
// block. manager/prommetrics implements it for Prometheus.
type Metrics interface {
	// ObserveExpiry records the NotAfter of the certificate the Manager
	// holds for name, when it is loaded and after every renewal.
	ObserveExpiry(name string, notAfter time.Time)
	// RenewalAttempt counts an order started for name (first issuance
	// included).
	RenewalAttempt(name string)
	// RenewalFailure counts a failed attempt for name.
	RenewalFailure(name string)
	// LastSuccess records when an order for name last succeeded.
	LastSuccess(name string, t time.Time)
	// OrderDuration observes how long one order took, success or not.
	OrderDuration(d time.Duration)
	// ObserveRequest counts one exchange with the CA. The Manager does
	// not call it: the Manager does not own the acme.Client, so set
	// Client.OnRequest to it when making the client.
	ObserveRequest(ri acme.RequestInfo)
	// Forget drops what is recorded about name, when it is no longer
	// managed.
	Forget(name string)
}

// AlarmMetrics is implemented by a Metrics that counts alarms: Alarm is
// called for every EventPanic and EventExpiringSoon sent (typ says
// which), each time one is sent. It is a separate interface so that
// implementations of Metrics written before it keep compiling.
// manager/prommetrics implements it.
type AlarmMetrics interface {
	Alarm(name string, typ EventType)
}

// nopMetrics is used when Config.Metrics is nil.
type nopMetrics struct{}

func (nopMetrics) ObserveExpiry(string, time.Time) {}
func (nopMetrics) RenewalAttempt(string)           {}
func (nopMetrics) RenewalFailure(string)           {}
func (nopMetrics) LastSuccess(string, time.Time)   {}
func (nopMetrics) OrderDuration(time.Duration)     {}
func (nopMetrics) ObserveRequest(acme.RequestInfo) {}
func (nopMetrics) Forget(string)                   {}
