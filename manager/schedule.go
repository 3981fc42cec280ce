package manager

import (
	"context"
	"fmt"
	"time"
)

// The renewal schedule as pure functions of a certificate's validity, the
// current time, the CA's suggested window and random numbers in [0, 1),
// so that table tests can check every rule.

// shortLived is the lifetime at or under which a certificate is renewed
// with half of its lifetime left rather than a third.
const shortLived = 10 * 24 * time.Hour

// policy is the part of Config the schedule depends on.
type policy struct {
	fraction      float64       // RenewFraction, 0 = by lifetime
	reissueBefore time.Duration // ReissueBefore, 0 = unset
	panicBefore   time.Duration // PanicBefore, 0 = a sixth of the lifetime
	jitter        float64
	backoff       []time.Duration
}

// renewLeft returns how much of the lifetime is left when a certificate
// is due by the lifetime rule, before jitter.
func (p policy) renewLeft(notBefore, notAfter time.Time) time.Duration {
	life := notAfter.Sub(notBefore)
	if life <= 0 {
		return 0
	}
	if p.reissueBefore > 0 {
		return min(p.reissueBefore, life*3/4)
	}
	f := p.fraction
	if f == 0 {
		f = 1.0 / 3
		if life <= shortLived {
			f = 1.0 / 2
		}
	}
	return time.Duration(float64(life) * f)
}

// renewAt returns when a certificate valid from notBefore to notAfter is
// due by the lifetime rule: when renewLeft is left, brought forward by up
// to jitter×renewLeft (r picks how much), so that certificates issued
// together are not all renewed together. It is never later than the rule
// says, never later than latestRenewal and never before notBefore.
func (p policy) renewAt(notBefore, notAfter time.Time, r float64) time.Time {
	left := p.renewLeft(notBefore, notAfter)
	left += time.Duration(float64(left) * p.jitter * r)
	t := earliest(notAfter.Add(-left), p.latestRenewal(notBefore, notAfter))
	if t.Before(notBefore) {
		return notBefore
	}
	return t
}

// retryRoomSteps is how many backoff waits the margin before expiry
// leaves room for: an attempt and this many retries.
const retryRoomSteps = 3

// margin returns how much of the lifetime is left, at the latest, when a
// certificate valid from notBefore to notAfter is renewed, so that
// failed attempts can be retried before it expires: the panic interval
// (PanicBefore, or a sixth of the lifetime) or the first retryRoomSteps
// backoff waits at their longest (with jitter), whichever is longer, but
// never more than half the lifetime.
func (p policy) margin(notBefore, notAfter time.Time) time.Duration {
	life := notAfter.Sub(notBefore)
	if life <= 0 {
		return 0
	}
	var room time.Duration
	for i := range retryRoomSteps {
		if len(p.backoff) > 0 {
			room += p.backoff[min(i, len(p.backoff)-1)]
		}
	}
	room += time.Duration(float64(room) * p.jitter)
	return min(max(p.panicLeft(notBefore, notAfter), room), life/2)
}

// latestRenewal is the latest moment a certificate valid from notBefore
// to notAfter is renewed, whatever the CA's window or the lifetime rule
// say: notAfter − margin.
func (p policy) latestRenewal(notBefore, notAfter time.Time) time.Time {
	return notAfter.Add(-p.margin(notBefore, notAfter))
}

// userThreshold reports whether the user set when to renew
// (ReissueBefore or RenewFraction): that time then holds even when the
// CA suggests a later one.
func (p policy) userThreshold() bool { return p.reissueBefore > 0 || p.fraction > 0 }

// dueAt returns when a certificate valid from notBefore to notAfter is
// due, given the moment picked in the CA's window (zero when the CA
// offers none) and the certificate's draw r: the CA's moment if there is
// one, else the lifetime rule; the lifetime rule too if it is earlier and
// the user set it (userThreshold); and never later than latestRenewal.
func (p policy) dueAt(notBefore, notAfter, ariAt time.Time, r float64) time.Time {
	rule := p.renewAt(notBefore, notAfter, r)
	if ariAt.IsZero() {
		return rule
	}
	t := earliest(ariAt, p.latestRenewal(notBefore, notAfter))
	if p.userThreshold() {
		t = earliest(t, rule)
	}
	return t
}

// RenewalTime returns when m renews, by the lifetime rule alone (no
// renewal information from the CA, no failure), a certificate valid from
// notBefore to notAfter: when Config.RenewFraction of its lifetime (or
// ReissueBefore) is left, brought forward by r×Jitter of that, where r in
// [0, 1) is the certificate's random draw. r = 0 gives the latest moment
// the rule allows, which is all that can be said of a certificate for
// which no Manager has drawn yet. It is never before notBefore, and never
// later than the margin for retries allows (see Config.PanicBefore).
func (m *Manager) RenewalTime(notBefore, notAfter time.Time, r float64) time.Time {
	return m.pol.renewAt(notBefore, notAfter, r)
}

// panicLeft returns PanicBefore, or a sixth of the lifetime.
func (p policy) panicLeft(notBefore, notAfter time.Time) time.Duration {
	if p.panicBefore > 0 {
		return p.panicBefore
	}
	return notAfter.Sub(notBefore) / 6
}

// alarm says which alarm a failed attempt raises at now for a certificate
// valid from notBefore to notAfter; a zero notAfter (no certificate) is
// a panic.
func (p policy) alarm(notBefore, notAfter, now time.Time) EventType {
	if notAfter.IsZero() {
		return EventPanic
	}
	left := notAfter.Sub(now)
	pl := p.panicLeft(notBefore, notAfter)
	switch {
	case left < pl:
		return EventPanic
	case left < 2*pl:
		return EventExpiringSoon
	}
	return ""
}

// ariRenewAt picks the renewal moment inside the CA's suggested window
// (RFC 9773 §4.2): start + r×(end−start), or now if that is past. A window
// that has ended, or that is empty or inverted, means now.
func ariRenewAt(start, end, now time.Time, r float64) time.Time {
	if !end.After(now) || !end.After(start) {
		return now
	}
	t := start.Add(time.Duration(float64(end.Sub(start)) * r))
	if t.Before(now) {
		return now
	}
	return t
}

// minRetryGap is the shortest wait between two attempts that the cap
// before expiry (retryAt) makes.
const minRetryGap = time.Second

// retryAt returns when to try again at the earliest after the failures-th
// failure in a row at now: the backoff table's entry (its last one
// repeating) lengthened by up to jitter, and never before the CA's
// Retry-After (zero when none was given). While the certificate held
// (valid until notAfter; zero when none is) has not expired, a wait that
// would reach its expiry is shortened to land before it: to half the
// time left, or to the first backoff wait if that is longer and still
// lands before expiry (so that retries grow denser towards expiry but no
// wait is shorter than minRetryGap). Only the CA's Retry-After can put the
// next attempt after expiry.
func (p policy) retryAt(now time.Time, failures int, retryAfter, notAfter time.Time, r float64) time.Time {
	if failures < 1 {
		failures = 1
	}
	d := p.backoff[min(failures-1, len(p.backoff)-1)]
	d += time.Duration(float64(d) * p.jitter * r)
	if left := notAfter.Sub(now); !notAfter.IsZero() && left > 0 && d >= left {
		c := left / 2
		if first := p.backoff[0]; first < left {
			c = max(c, first)
		}
		if c >= minRetryGap {
			d = min(d, c)
		}
	}
	t := now.Add(d)
	if retryAfter.After(t) {
		return retryAfter
	}
	return t
}

// nextCheck returns when to look at a certificate again at the latest:
// a check interval shortened by up to jitter.
func nextCheck(now time.Time, interval time.Duration, jitter, r float64) time.Time {
	return now.Add(interval - time.Duration(float64(interval)*jitter*r))
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// DueAt returns when the named certificate is due for renewal by the
// rules Run follows: the CA's renewal information (RFC 9773), fetched
// first when it is due; else the lifetime rule with this certificate's
// jitter draw (and the earlier of the two when the user set
// ReissueBefore or RenewFraction); never later than the margin for
// retries before expiry (see Config.PanicBefore); never before the next
// attempt after a failure. A time not after now means due now.
func (m *Manager) DueAt(ctx context.Context, name string) (time.Time, error) {
	m.mu.Lock()
	e := m.entries[name]
	m.mu.Unlock()
	if e == nil {
		return time.Time{}, fmt.Errorf("%w: %q", ErrNotManaged, name)
	}
	due := m.refreshDue(ctx, e, m.cfg.Clock.Now())
	m.mu.Lock()
	stale := !due.Equal(e.state().NextRenewal) && e.call == nil
	m.mu.Unlock()
	if stale {
		// So that list shows the moment this run decided by.
		m.saveState(ctx, e)
	}
	return due, nil
}
