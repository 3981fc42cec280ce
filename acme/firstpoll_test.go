package acme

import (
	"testing"
	"time"
)

// A Client that has seen how fast the CA answers challenges and
// finalize polls sooner than the schedule's 10 ms (2 ms after finalize),
// in whole milliseconds; a slow answer never raises the wait above them.
func TestFirstPollFromAnswerTime(t *testing.T) {
	c := &Client{}
	c.noteAnswer(stepValidation, 1200*time.Microsecond)
	if got := c.firstPoll(stepValidation); got != 4*time.Millisecond {
		t.Errorf("validation first poll after a 1.2ms challenge answer: %v, want 4ms (4.8ms in whole ms)", got)
	}
	if got := c.firstPoll(stepIssuance); got != issuanceFloor {
		t.Errorf("issuance first poll with no finalize seen: %v, want %v", got, issuanceFloor)
	}
	c.noteAnswer(stepIssuance, 100*time.Microsecond)
	if got := c.firstPoll(stepIssuance); got != minFirstPoll {
		t.Errorf("issuance first poll after a 0.1ms finalize: %v, want %v", got, minFirstPoll)
	}
	// Answers slow down: the average follows, capped by the schedule.
	for range 20 {
		c.noteAnswer(stepValidation, 50*time.Millisecond)
	}
	if got := c.firstPoll(stepValidation); got != 10*time.Millisecond {
		t.Errorf("validation first poll after slow answers: %v, want the schedule's 10ms", got)
	}
	// What the Client learned of validation itself still wins.
	c.learnOrderWait(stepValidation, 10*time.Millisecond, 1, 70*time.Millisecond)
	if got := c.firstPoll(stepValidation); got != 80*time.Millisecond {
		t.Errorf("validation first poll after an 80ms validation: %v, want 80ms", got)
	}
}
