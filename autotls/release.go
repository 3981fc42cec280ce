package autotls

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// errCap marks a refusal because MaxCertificates is reached.
var errCap = errors.New("on-demand certificate cap reached")

// touch records a handshake for the on-demand name.
func (s *state) touch(name string) {
	now := time.Now().UnixNano()
	if v, ok := s.lastUse.Load(name); ok {
		v.(*atomic.Int64).Store(now)
		return
	}
	s.mu.Lock()
	if s.onDemand[name] {
		v, _ := s.lastUse.LoadOrStore(name, new(atomic.Int64))
		v.(*atomic.Int64).Store(now)
	}
	s.mu.Unlock()
}

// releaseIdleLocked releases the least recently used on-demand
// certificate if it has been idle for ReleaseIdle, and reports whether it
// did. s.mu is held.
func (s *state) releaseIdleLocked(now time.Time) bool {
	idle := s.policy.ReleaseIdle
	if idle < 0 {
		return false
	}
	var (
		lru  string
		last int64
	)
	for name := range s.onDemand {
		if s.flights[name] != nil {
			continue
		}
		var t int64
		if v, ok := s.lastUse.Load(name); ok {
			t = v.(*atomic.Int64).Load()
		}
		if lru == "" || t < last {
			lru, last = name, t
		}
	}
	if lru == "" || now.Sub(time.Unix(0, last)) < idle {
		return false
	}
	delete(s.onDemand, lru)
	s.lastUse.Delete(lru)
	// The Manager forgets it; the store keeps it for the next handshake.
	s.cfg.Manager.Unmanage(lru)
	s.log.Info("idle on-demand certificate released", "name", lru, "idle", now.Sub(time.Unix(0, last)).Round(time.Second))
	return true
}

// refusalLog summarises refused on-demand handshakes: one line per
// interval with the counts by reason, instead of one line each.
type refusalLog struct {
	mu     sync.Mutex
	counts map[string]int
	last   string
	logged time.Time
}

func (r *refusalLog) add(ctx context.Context, s *state, reason, name string) {
	r.mu.Lock()
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	r.counts[reason]++
	r.last = name
	now := time.Now()
	if now.Sub(r.logged) < s.policy.RefusalLogInterval {
		r.mu.Unlock()
		return
	}
	counts, last := r.counts, r.last
	r.counts, r.logged = nil, now
	r.mu.Unlock()
	total := 0
	args := []any{}
	for _, k := range []string{"not_allowed", "rate_limited", "cap"} {
		if n := counts[k]; n > 0 {
			args = append(args, k, n)
			total += n
		}
	}
	args = append([]any{"refused", total}, append(args, "last_name", last, "interval", s.policy.RefusalLogInterval)...)
	s.log.WarnContext(ctx, "on-demand handshakes refused", args...)
}
