package autotls

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func onDemandState(t *testing.T, log *slog.Logger) *state {
	cfg := &Config{Manager: newTestManager(t)}
	s := &state{cfg: cfg, log: log, policy: &OnDemandPolicy{
		MaxCertificates: 2, ReleaseIdle: time.Minute, RefusalLogInterval: time.Hour,
	}, onDemand: map[string]bool{}, flights: map[string]*flight{}}
	s.limits.init(DefaultRateLimit(), DefaultDomainRateLimit())
	return s
}

func (s *state) usedAt(name string, t time.Time) {
	s.onDemand[name] = true
	v := new(atomic.Int64)
	v.Store(t.UnixNano())
	s.lastUse.Store(name, v)
}

// At the cap, the least recently used on-demand certificate idle for
// ReleaseIdle makes room; one in use does not.
func TestOnDemandReleasesIdle(t *testing.T) {
	s := onDemandState(t, slog.New(slog.DiscardHandler))
	now := time.Now()
	s.usedAt("old.example", now.Add(-5*time.Minute))
	s.usedAt("busy.example", now.Add(-10*time.Second))
	if !s.releaseIdleLocked(now) {
		t.Fatal("nothing released at the cap with an idle certificate")
	}
	if s.onDemand["old.example"] || !s.onDemand["busy.example"] {
		t.Fatalf("released the wrong one: %v", s.onDemand)
	}
	s.usedAt("recent.example", now.Add(-time.Second))
	if _, err := s.admit(context.Background(), "new.example"); !errors.Is(err, ErrRateLimited) || !errors.Is(err, errCap) {
		t.Fatalf("admit with every certificate in use = %v, want the cap", err)
	}
	// A handshake for a released name marks it used again once readmitted.
	s.touch("busy.example")
	v, _ := s.lastUse.Load("busy.example")
	if time.Since(time.Unix(0, v.(*atomic.Int64).Load())) > time.Second {
		t.Error("touch did not record the handshake")
	}
}

// A flood of refused handshakes gives one log line per interval.
func TestRefusalsSummarised(t *testing.T) {
	var buf bytes.Buffer
	s := onDemandState(t, slog.New(slog.NewTextHandler(&buf, nil)))
	for range 1000 {
		s.refusals.add(context.Background(), s, "not_allowed", "x.example")
	}
	s.refusals.add(context.Background(), s, "cap", "y.example")
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("%d log lines for 1001 refusals:\n%s", n, buf.String())
	}
	// The next interval's line carries the counts since.
	s.refusals.mu.Lock()
	s.refusals.logged = time.Now().Add(-2 * time.Hour)
	s.refusals.mu.Unlock()
	s.refusals.add(context.Background(), s, "cap", "z.example")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "refused=1001") || !strings.Contains(lines[1], "cap=2") {
		t.Errorf("summary lines:\n%s", buf.String())
	}
}
