package manager

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func TestRenewAt(t *testing.T) {
	tests := []struct {
		name string
		pol  policy
		life time.Duration
		r    float64
		want time.Duration // after notBefore
	}{
		{"90 days: a third left", policy{}, 90 * day, 0, 60 * day},
		{"90 days, jitter 0.1, r=1: 3 days earlier", policy{jitter: 0.1}, 90 * day, 1, 57 * day},
		{"90 days, jitter 0.1, r=0.5", policy{jitter: 0.1}, 90 * day, 0.5, 58*day + 12*time.Hour},
		{"6 days: half left", policy{}, 6 * day, 0, 3 * day},
		{"10 days is short-lived", policy{}, 10 * day, 0, 5 * day},
		{"11 days is not", policy{}, 11 * day, 0, 11 * day * 2 / 3},
		{"fraction 1/4", policy{fraction: 0.25}, 100 * day, 0, 75 * day},
		{"fraction applies to short certificates too", policy{fraction: 0.25}, 4 * day, 0, 3 * day},
		{"ReissueBefore 30 days of 90", policy{reissueBefore: 30 * day}, 90 * day, 0, 60 * day},
		{"ReissueBefore 7 days of 90, later than the fraction", policy{reissueBefore: 7 * day, panicBefore: 5 * day}, 90 * day, 0, 83 * day},
		{"ReissueBefore 7 days of 90, later than the panic interval: the margin wins", policy{reissueBefore: 7 * day}, 90 * day, 0, 75 * day},
		{"ReissueBefore 30 days of 40 holds", policy{reissueBefore: 30 * day}, 40 * day, 0, 10 * day},
		{"ReissueBefore capped at three quarters of the lifetime", policy{reissueBefore: 30 * day}, 6 * day, 0, 36 * time.Hour},
		{"fraction 1/20 of 90 days: the margin (15 days) wins", policy{fraction: 0.05}, 90 * day, 0, 75 * day},
		{"margin: backoff room longer than the panic interval", policy{fraction: 0.01, backoff: []time.Duration{3 * time.Hour, 4 * time.Hour, 5 * time.Hour}}, 2 * day, 0, 36 * time.Hour},
		{"margin capped at half the lifetime", policy{fraction: 0.01, panicBefore: 30 * day}, 10 * day, 0, 5 * day},
		{"ReissueBefore with jitter", policy{reissueBefore: 10 * day, panicBefore: 5 * day, jitter: 0.1}, 90 * day, 1, 79 * day},
		{"jitter never reaches before notBefore", policy{fraction: 0.99, jitter: 1}, 10 * day, 1, 0},
		{"zero lifetime", policy{}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.pol.renewAt(t0, t0.Add(tt.life), tt.r)
			if want := t0.Add(tt.want); !got.Equal(want) {
				t.Errorf("renewAt = notBefore+%v, want +%v", got.Sub(t0), tt.want)
			}
		})
	}
}

func TestARIRenewAt(t *testing.T) {
	start, end := t0.Add(60*day), t0.Add(62*day)
	tests := []struct {
		name       string
		start, end time.Time
		now        time.Time
		r          float64
		want       time.Time
	}{
		{"start of the window", start, end, t0, 0, start},
		{"middle", start, end, t0, 0.5, t0.Add(61 * day)},
		{"near the end", start, end, t0, 0.999, start.Add(time.Duration(float64(2*day) * 0.999))},
		{"inside the window, picked moment past: now", start, end, t0.Add(61 * day), 0.25, t0.Add(61 * day)},
		{"inside the window, picked moment ahead", start, end, t0.Add(61 * day), 0.75, t0.Add(61*day + 12*time.Hour)},
		{"window ended: now", start, end, t0.Add(63 * day), 0.5, t0.Add(63 * day)},
		{"window ends now: now", start, end, end, 0.5, end},
		{"inverted window: now", end, start, t0, 0.5, t0},
		{"empty window: now", start, start, t0, 0.5, t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ariRenewAt(tt.start, tt.end, tt.now, tt.r); !got.Equal(tt.want) {
				t.Errorf("ariRenewAt = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRetryAt(t *testing.T) {
	table := []time.Duration{time.Minute, 5 * time.Minute, time.Hour}
	tests := []struct {
		name       string
		jitter, r  float64
		failures   int
		retryAfter time.Time
		want       time.Duration
	}{
		{"first failure", 0, 0, 1, time.Time{}, time.Minute},
		{"second", 0, 0, 2, time.Time{}, 5 * time.Minute},
		{"third", 0, 0, 3, time.Time{}, time.Hour},
		{"the last entry repeats", 0, 0, 50, time.Time{}, time.Hour},
		{"zero failures count as one", 0, 0, 0, time.Time{}, time.Minute},
		{"jitter lengthens", 0.1, 1, 3, time.Time{}, 66 * time.Minute},
		{"Retry-After later than the table wins", 0, 0, 1, t0.Add(2 * time.Hour), 2 * time.Hour},
		{"Retry-After sooner than the table is not enough", 0, 0, 3, t0.Add(10 * time.Second), time.Hour},
		{"Retry-After beats jitter", 0.1, 1, 1, t0.Add(3 * time.Minute), 3 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy{backoff: table, jitter: tt.jitter}
			if got := p.retryAt(t0, tt.failures, tt.retryAfter, time.Time{}, tt.r); got.Sub(t0) != tt.want {
				t.Errorf("retryAt = now+%v, want +%v", got.Sub(t0), tt.want)
			}
		})
	}
	// The default table is written as data and grows.
	def := DefaultBackoff()
	for i := 1; i < len(def); i++ {
		if def[i] <= def[i-1] {
			t.Errorf("DefaultBackoff()[%d] = %v is not longer than the one before", i, def[i])
		}
	}
}

// A certificate still valid is never left to expire by the backoff: a
// wait that would reach notAfter lands before it (issue 11, point 9c).
func TestRetryAtBeforeExpiry(t *testing.T) {
	table := []time.Duration{time.Minute, 5 * time.Minute, time.Hour, 12 * time.Hour}
	tests := []struct {
		name       string
		failures   int
		left       time.Duration // until notAfter; 0 = no certificate
		retryAfter time.Duration // after now; 0 = none
		want       time.Duration
	}{
		{"plenty left: the table", 4, 10 * day, 0, 12 * time.Hour},
		{"12h wait, 6h left: half of it", 4, 6 * time.Hour, 0, 3 * time.Hour},
		{"1h wait, 40m left: 20m", 3, 40 * time.Minute, 0, 20 * time.Minute},
		{"1h wait, 90s left: the first step, still before expiry", 3, 90 * time.Second, 0, time.Minute},
		{"1m wait, 50s left: half", 1, 50 * time.Second, 0, 25 * time.Second},
		{"wait ending exactly at expiry is shortened", 3, time.Hour, 0, 30 * time.Minute},
		{"1.5s left: no wait under a second, so the table", 3, 1500 * time.Millisecond, 0, time.Hour},
		{"expired: the table", 4, -time.Hour, 0, 12 * time.Hour},
		{"no certificate: the table", 4, 0, 0, 12 * time.Hour},
		{"the CA's Retry-After after expiry is respected", 4, 6 * time.Hour, 8 * time.Hour, 8 * time.Hour},
		{"a Retry-After before the cap is not enough", 4, 6 * time.Hour, 2 * time.Hour, 3 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy{backoff: table}
			var na, ra time.Time
			if tt.left != 0 {
				na = t0.Add(tt.left)
			}
			if tt.retryAfter != 0 {
				ra = t0.Add(tt.retryAfter)
			}
			got := p.retryAt(t0, tt.failures, ra, na, 0)
			if got.Sub(t0) != tt.want {
				t.Errorf("retryAt = now+%v, want +%v", got.Sub(t0), tt.want)
			}
			if tt.left > 2*minRetryGap && tt.retryAfter == 0 && !got.Before(na) {
				t.Errorf("retry at now+%v, not before expiry (now+%v)", got.Sub(t0), tt.left)
			}
		})
	}
	// With jitter at its longest too.
	p := policy{backoff: table, jitter: 0.5}
	if got := p.retryAt(t0, 4, time.Time{}, t0.Add(13*time.Hour), 1); !got.Equal(t0.Add(6*time.Hour + 30*time.Minute)) {
		t.Errorf("with jitter: now+%v", got.Sub(t0))
	}
}

// The renewal time keeps a margin for retries before expiry whatever the
// CA's window says (point 9b), and a threshold the user set holds against
// a later window (point 9e).
func TestDueAt(t *testing.T) {
	def := DefaultBackoff()
	nb := t0
	tests := []struct {
		name string
		pol  policy
		life time.Duration
		ari  time.Duration // after notBefore; 0 = no window
		want time.Duration // after notBefore
	}{
		{"no window: the lifetime rule", policy{backoff: def}, 90 * day, 0, 60 * day},
		{"window inside the margin: the window", policy{backoff: def}, 90 * day, 65 * day, 65 * day},
		{"window up to notAfter: the margin (a sixth)", policy{backoff: def}, 90 * day, 90*day - time.Millisecond, 75 * day},
		{"6 days, window at the end: a day before", policy{backoff: def}, 6 * day, 6*day - time.Second, 5 * day},
		{"1 hour, window at the end: the backoff room (21m)", policy{backoff: def}, time.Hour, time.Hour - time.Second, 39 * time.Minute},
		{"PanicBefore wider than the default", policy{backoff: def, panicBefore: 20 * day}, 90 * day, 85 * day, 70 * day},
		{"ReissueBefore 30 days of 40, window at 28 days: 30 days left", policy{backoff: def, reissueBefore: 30 * day}, 40 * day, 28 * day, 10 * day},
		{"ReissueBefore later than the window: the window", policy{backoff: def, reissueBefore: 5 * day, panicBefore: day}, 40 * day, 20 * day, 20 * day},
		{"RenewFraction set: earlier wins", policy{backoff: def, fraction: 0.5}, 90 * day, 70 * day, 45 * day},
		{"no user threshold: the window, even later than the rule", policy{backoff: def}, 90 * day, 70 * day, 70 * day},
		{"window already ended (now): kept", policy{backoff: def}, 90 * day, time.Hour, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ari time.Time
			if tt.ari != 0 {
				ari = nb.Add(tt.ari)
			}
			got := tt.pol.dueAt(nb, nb.Add(tt.life), ari, 0)
			if got.Sub(nb) != tt.want {
				t.Errorf("dueAt = notBefore+%v, want +%v", got.Sub(nb), tt.want)
			}
		})
	}
}

func TestAlarm(t *testing.T) {
	nb, na := t0, t0.Add(90*day) // a sixth: 15 days
	tests := []struct {
		name   string
		pol    policy
		nb, na time.Time
		now    time.Time
		want   EventType
	}{
		{"plenty left", policy{}, nb, na, t0.Add(50 * day), ""},
		{"exactly twice the panic interval left", policy{}, nb, na, t0.Add(60 * day), ""},
		{"less than twice", policy{}, nb, na, t0.Add(61 * day), EventExpiringSoon},
		{"exactly the panic interval left", policy{}, nb, na, t0.Add(75 * day), EventExpiringSoon},
		{"inside the panic interval", policy{}, nb, na, t0.Add(76 * day), EventPanic},
		{"expired", policy{}, nb, na, t0.Add(91 * day), EventPanic},
		{"nothing held", policy{}, time.Time{}, time.Time{}, t0, EventPanic},
		{"PanicBefore set: outside", policy{panicBefore: 5 * day}, nb, na, t0.Add(80 * day), ""},
		{"PanicBefore set: soon", policy{panicBefore: 5 * day}, nb, na, t0.Add(81 * day), EventExpiringSoon},
		{"PanicBefore set: inside", policy{panicBefore: 5 * day}, nb, na, t0.Add(86 * day), EventPanic},
		{"6 days: a day is the panic interval", policy{}, nb, nb.Add(6 * day), t0.Add(5*day + time.Hour), EventPanic},
		{"6 days: outside", policy{}, nb, nb.Add(6 * day), t0.Add(3 * day), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.pol.alarm(tt.nb, tt.na, tt.now); got != tt.want {
				t.Errorf("alarm = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNextCheck(t *testing.T) {
	if got := nextCheck(t0, 12*time.Hour, 0.1, 0); !got.Equal(t0.Add(12 * time.Hour)) {
		t.Errorf("r=0: %v", got)
	}
	if got := nextCheck(t0, 12*time.Hour, 0.1, 1); !got.Equal(t0.Add(12*time.Hour - 72*time.Minute)) {
		t.Errorf("r=1: %v", got)
	}
}
