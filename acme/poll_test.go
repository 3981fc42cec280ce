package acme

import (
	"testing"
	"time"
)

func TestFirstPollLearns(t *testing.T) {
	c := &Client{}
	if got := c.firstPoll(stepValidation); got != 10*time.Millisecond {
		t.Fatalf("untrained first poll %v, want the schedule's 10ms", got)
	}
	// A CA that needs about 80 ms: the estimate climbs towards it.
	for range 20 {
		first := c.firstPoll(stepValidation)
		if first >= 80*time.Millisecond {
			c.learnOrderWait(stepValidation, first, 0, 0)
		} else {
			c.learnOrderWait(stepValidation, first, 1, 80*time.Millisecond-first)
		}
	}
	if got := c.firstPoll(stepValidation); got < 40*time.Millisecond || got > 100*time.Millisecond {
		t.Errorf("after a slow CA: first poll %v, want near 80ms", got)
	}
	// The CA becomes fast: orders are done at every first poll, and the
	// estimate falls back to the floor.
	for range 200 {
		c.learnOrderWait(stepValidation, c.firstPoll(stepValidation), 0, 0)
	}
	if got := c.firstPoll(stepValidation); got != 10*time.Millisecond {
		t.Errorf("after a fast CA: first poll %v, want 10ms", got)
	}
	// Never more than a second.
	for range 40 {
		c.learnOrderWait(stepValidation, c.firstPoll(stepValidation), 3, time.Minute)
	}
	if got := c.firstPoll(stepValidation); got != time.Second {
		t.Errorf("after a very slow CA: first poll %v, want the 1s cap", got)
	}
}

// Issuance has its own estimate: a Client that learned a slow validation
// still polls soon after finalize, and one that has not waited yet polls
// after issuanceFloor.
func TestFirstPollIssuanceApart(t *testing.T) {
	c := &Client{}
	if got := c.firstPoll(stepIssuance); got != issuanceFloor {
		t.Fatalf("untrained issuance first poll %v, want %v", got, issuanceFloor)
	}
	for range 20 {
		c.learnOrderWait(stepValidation, c.firstPoll(stepValidation), 1, 300*time.Millisecond)
	}
	if got := c.firstPoll(stepIssuance); got != issuanceFloor {
		t.Errorf("issuance first poll %v after slow validations, want %v", got, issuanceFloor)
	}
	if got := c.firstPoll(stepValidation); got < 100*time.Millisecond {
		t.Errorf("validation first poll %v after slow validations, want it learned", got)
	}
}
