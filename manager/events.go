package manager

import (
	"context"
	"log/slog"
	"time"

	"github.com/certkeeper/certkeeper/internal/progress"
)

// EventType says what happened to a certificate.
type EventType string

// The events a Manager emits. Every one reaches the logger, Config.OnEvent
// and the hooks subscribed to it.
const (
	// EventObtaining: an order starts for a certificate the Manager does
	// not hold yet (or whose stored copy does not cover its identifiers).
	EventObtaining EventType = "obtaining"
	// EventObtained: that order succeeded and the certificate is stored.
	EventObtained EventType = "obtained"
	// EventRenewing: an order starts to replace a certificate held.
	EventRenewing EventType = "renewing"
	// EventRenewed: that order succeeded and the new certificate is
	// stored and served.
	EventRenewed EventType = "renewed"
	// EventFailed: an attempt failed; Err says why, Attempt counts the
	// failures in a row and NextAttempt says when the next one is due.
	EventFailed EventType = "failed"
	// EventExpiringSoon: an attempt failed with less than twice
	// PanicBefore left. Sent once per certificate until a renewal
	// succeeds.
	EventExpiringSoon EventType = "expiring_soon"
	// EventPanic: an attempt failed with less than PanicBefore left, or
	// for a certificate that is missing or expired. Sent on every such
	// failure, and at every check of such a certificate while it is
	// failing even when no attempt is made (backing off, waiting for the
	// CA's Retry-After, another instance failing); Config.OnPanic is
	// called too, and AlarmMetrics.Alarm if Metrics implements it.
	EventPanic EventType = "panic"
	// EventRevoked: the CA's renewal information marks the certificate
	// for immediate renewal (its window has already ended), which is what
	// a CA does for a revoked certificate; the renewal starts at once.
	EventRevoked EventType = "revoked"
	// EventHookFailed: a hook failed or timed out; Err says how. Hooks
	// are not run for this event.
	EventHookFailed EventType = "hook_failed"
)

// Event is something that happened to one certificate.
type Event struct {
	Type        EventType
	Time        time.Time
	Name        string
	Identifiers []string
	// NotAfter is the expiry of the certificate held after the event (the
	// new one for EventObtained and EventRenewed); zero when none is held.
	NotAfter time.Time
	// Err is the failure, for EventFailed, EventExpiringSoon, EventPanic
	// and EventHookFailed.
	Err error
	// Attempt counts the failures in a row, including this one, for
	// failure events; for EventObtaining and EventRenewing it is the
	// number of the attempt starting (1 for the first).
	Attempt int
	// NextAttempt is when the next attempt is due, for failure events.
	NextAttempt time.Time
	// Paths are the files that hold the certificate when Config.Store is
	// a *store.Dir: "cert" (the chain, leaf first), "key" (the private
	// key; "" when the store does not hold it, for a certificate ordered
	// with the caller's CSR) and, in the standard layout, "meta". Nil for
	// other stores.
	Paths map[string]string
}

// LogValue makes an Event print well with log/slog: the event, the name,
// and those of not_after, error, attempt, next_attempt and next_in (the
// wait until next_attempt) that are set.
func (ev Event) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("event", string(ev.Type)),
		slog.String("name", ev.Name),
	}
	if !ev.NotAfter.IsZero() {
		attrs = append(attrs, slog.Time("not_after", ev.NotAfter))
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
	}
	if ev.Attempt > 0 {
		attrs = append(attrs, slog.Int("attempt", ev.Attempt))
	}
	if !ev.NextAttempt.IsZero() {
		attrs = append(attrs, slog.Time("next_attempt", ev.NextAttempt))
		if !ev.Time.IsZero() {
			attrs = append(attrs, progress.NextIn(max(ev.NextAttempt.Sub(ev.Time), 0)))
		}
	}
	return slog.GroupValue(attrs...)
}

// DefaultHookTimeout bounds a hook whose Timeout is zero.
const DefaultHookTimeout = time.Minute

// Hook runs a command when certain events happen, such as reloading a web
// server after a renewal. The command is run directly, not through a shell,
// with the Manager's environment plus:
//
//	CERTKEEPER_EVENT      the event type ("renewed", …)
//	CERTKEEPER_NAME       the certificate's name
//	CERTKEEPER_NAMES      its identifiers, comma-separated
//	CERTKEEPER_CERT_PATH  the chain file, when the store is a *store.Dir
//	CERTKEEPER_KEY_PATH   the key file, when the store is a *store.Dir and holds the key
//	CERTKEEPER_NOT_AFTER  the certificate's expiry, RFC 3339, if one is held
//	CERTKEEPER_ERROR      the error, for failure events
//
// Its output is captured and logged. A hook that fails or runs longer than
// its Timeout (it is killed) is logged and reported as EventHookFailed.
// Hooks run one after the other, after the event is logged and passed to
// OnEvent; Renew returns after the hooks of its events have run.
type Hook struct {
	// Events the hook runs for; nil means EventObtained and EventRenewed.
	Events []EventType
	// Command is the program to run, found in PATH if it has no slash.
	Command string
	Args    []string
	// Timeout bounds one run; zero means DefaultHookTimeout.
	Timeout time.Duration
	// Unset names variables kept from this hook beyond Config.SecretEnv
	// and the secrets every hook goes without (see Config.Hooks): those
	// the certificate's solvers read secrets from.
	Unset []string
}

func (h *Hook) wants(t EventType) bool {
	if h.Events == nil {
		return t == EventObtained || t == EventRenewed
	}
	for _, e := range h.Events {
		if e == t {
			return true
		}
	}
	return false
}

// defaultPanic is Config.OnPanic's default.
func defaultPanic(log *slog.Logger) func(context.Context, Event) {
	return func(ctx context.Context, ev Event) {
		log.ErrorContext(ctx, "PANIC: renewal failed and the certificate is about to expire or has expired",
			"name", ev.Name, "not_after", ev.NotAfter, "error", ev.Err, "attempt", ev.Attempt, "next_attempt", ev.NextAttempt)
	}
}
