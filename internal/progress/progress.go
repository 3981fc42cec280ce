// Package progress paces the lines that say what a long wait waits for:
// the CA's answers and polls, retries, DNS propagation, delays. Every wait
// that lasts longer than Threshold says so, at Info level, with what it
// waits for and for how long (attributes "waited" and, when known,
// "next_in"), and no wait says it more often than once per Gap.
package progress

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Threshold is how long a wait may last without saying anything.
const Threshold = time.Second

// Gap is the least time between two lines about one wait.
const Gap = 5 * time.Second

// Throttle decides which steps of one wait (each poll, retry or check) get
// a line. The zero value is not usable: see NewThrottle.
type Throttle struct {
	start, last time.Time
	said        bool
}

// NewThrottle starts a wait at now.
func NewThrottle(now time.Time) *Throttle { return &Throttle{start: now} }

// Due reports whether a line is due at now, before a pause of next: the
// first once the wait so far and the pause add up to Threshold, then one
// per Gap at most. A true answer counts as a line said.
func (t *Throttle) Due(now time.Time, next time.Duration) bool {
	if t.said {
		if now.Sub(t.last) < Gap {
			return false
		}
	} else if now.Sub(t.start)+next < Threshold {
		return false
	}
	t.said, t.last = true, now
	return true
}

// Mark counts a line said at now, whether or not it was due.
func (t *Throttle) Mark(now time.Time) { t.said, t.last = true, now }

// Waited is how long the wait has lasted at now.
func (t *Throttle) Waited(now time.Time) time.Duration { return now.Sub(t.start) }

// Round shortens a duration for a log line: to 10 ms below a second, to
// 100 ms below ten seconds, to the second above.
func Round(d time.Duration) time.Duration {
	switch {
	case d < time.Second:
		return d.Round(10 * time.Millisecond)
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// Waited is the "waited" attribute.
func Waited(d time.Duration) slog.Attr { return slog.Duration("waited", Round(d)) }

// NextIn is the "next_in" attribute.
func NextIn(d time.Duration) slog.Attr { return slog.Duration("next_in", Round(d)) }

// Watch says msg at Info on log, with attrs and "waited", after first and
// then every Gap, until the returned stop is called: for a wait whose end
// nobody can foresee, such as an answer from a server. Once stop has
// returned, nothing more is said. A nil log says nothing.
func Watch(ctx context.Context, log *slog.Logger, first time.Duration, msg string, attrs ...slog.Attr) (stop func()) {
	if log == nil || !log.Enabled(ctx, slog.LevelInfo) {
		return func() {}
	}
	w := &watch{start: time.Now()}
	w.mu.Lock() // the first line waits for w.t
	defer w.mu.Unlock()
	w.t = time.AfterFunc(first, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.stopped {
			return
		}
		as := append(attrs[:len(attrs):len(attrs)], Waited(time.Since(w.start)))
		log.LogAttrs(ctx, slog.LevelInfo, msg, as...)
		w.t.Reset(Gap)
	})
	return w.stop
}

type watch struct {
	mu      sync.Mutex
	t       *time.Timer
	start   time.Time
	stopped bool
}

func (w *watch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.t.Stop()
}
