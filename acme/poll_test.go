package acme

import (
	"testing"
	"time"
)

func TestFirstPollLearns(t *testing.T) {
	c := &Client{}
	if got := c.firstPoll(); got != 10*time.Millisecond {
		t.Fatalf("untrained first poll %v, want the schedule's 10ms", got)
	}
	// A CA that needs about 80 ms: the estimate climbs towards it.
	for range 20 {
		first := c.firstPoll()
		if first >= 80*time.Millisecond {
			c.learnOrderWait(first, 0, 0)
		} else {
			c.learnOrderWait(first, 1, 80*time.Millisecond-first)
		}
	}
	if got := c.firstPoll(); got < 40*time.Millisecond || got > 100*time.Millisecond {
		t.Errorf("after a slow CA: first poll %v, want near 80ms", got)
	}
	// The CA becomes fast: orders are done at every first poll, and the
	// estimate falls back to the floor.
	for range 200 {
		c.learnOrderWait(c.firstPoll(), 0, 0)
	}
	if got := c.firstPoll(); got != 10*time.Millisecond {
		t.Errorf("after a fast CA: first poll %v, want 10ms", got)
	}
	// Never more than a second.
	for range 40 {
		c.learnOrderWait(c.firstPoll(), 3, time.Minute)
	}
	if got := c.firstPoll(); got != time.Second {
		t.Errorf("after a very slow CA: first poll %v, want the 1s cap", got)
	}
}
