// Package managertest helps test programs that use package manager: a fake
// Clock whose time moves only when the test says so.
package managertest

import (
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/manager"
)

// FakeClock is a manager.Clock whose time moves only by Advance and Set.
// Timers fire, in the goroutine that moves the time, when it reaches their
// deadline. It is safe for concurrent use.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{}
	added  chan struct{} // signalled when a timer is armed
}

var _ manager.Clock = (*FakeClock)(nil)

// NewFakeClock returns a FakeClock set to now.
func NewFakeClock(now time.Time) *FakeClock {
	return &FakeClock{now: now, timers: map[*fakeTimer]struct{}{}, added: make(chan struct{}, 1)}
}

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the time forward by d and fires the timers due.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.fireLocked()
	c.mu.Unlock()
}

// Set moves the time to t (forward or back) and fires the timers due.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.fireLocked()
	c.mu.Unlock()
}

// Timers returns how many timers are armed.
func (c *FakeClock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// NextDeadline returns the earliest deadline of the armed timers, and
// false if none is armed.
func (c *FakeClock) NextDeadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first time.Time
	for t := range c.timers {
		if first.IsZero() || t.when.Before(first) {
			first = t.when
		}
	}
	return first, !first.IsZero()
}

// Armed returns a channel that receives a value after a timer is armed
// (made or reset), for tests that wait for a goroutine to go to sleep.
func (c *FakeClock) Armed() <-chan struct{} { return c.added }

func (c *FakeClock) fireLocked() {
	for t := range c.timers {
		if !t.when.After(c.now) {
			delete(c.timers, t)
			select {
			case t.ch <- c.now:
			default:
			}
		}
	}
}

// NewTimer returns a timer that fires when the fake time reaches Now()+d.
func (c *FakeClock) NewTimer(d time.Duration) manager.Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

type fakeTimer struct {
	c    *FakeClock
	ch   chan time.Time
	when time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

// Stop disarms the timer and drains a value not yet received.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, armed := t.c.timers[t]
	delete(t.c.timers, t)
	select {
	case <-t.ch:
	default:
	}
	return armed
}

// Reset re-arms the timer to fire d after the fake time now.
func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	_, armed := t.c.timers[t]
	select {
	case <-t.ch:
	default:
	}
	t.when = t.c.now.Add(d)
	t.c.timers[t] = struct{}{}
	t.c.fireLocked()
	t.c.mu.Unlock()
	select {
	case t.c.added <- struct{}{}:
	default:
	}
	return armed
}
