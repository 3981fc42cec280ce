package autotls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/certkeeper/certkeeper/issue"
)

// flight is one issuance that handshakes wait on.
type flight struct {
	done chan struct{}
	err  error
}

func (s *state) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := hello.ServerName
	if name == "" {
		name = s.defName
		if name == "" {
			return nil, errors.New("autotls: the client sent no server name (SNI) and there is no default")
		}
	}
	// Lookup ignores case and a final dot, and does not allocate.
	if cert := s.cfg.Manager.Lookup(name); cert != nil {
		if s.policy != nil {
			s.touch(normalizeSNI(name))
		}
		return cert, nil
	}
	ctx := hello.Context()
	if ctx == nil {
		// Only a ClientHelloInfo not made by crypto/tls has none.
		ctx = context.TODO()
	}
	// Managed but not in memory (manager.Config.CacheSize): read it from
	// the store.
	if cert, err := s.cfg.Manager.Load(ctx, name); cert != nil || err != nil {
		if cert != nil && s.policy != nil {
			s.touch(normalizeSNI(name))
		}
		return cert, err
	}
	return s.slowPath(ctx, normalizeSNI(name))
}

// normalizeSNI lower-cases name and removes a final dot, allocating only
// when there is something to change.
func normalizeSNI(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			name = strings.ToLower(name)
			break
		}
	}
	return strings.TrimSuffix(name, ".")
}

// slowPath handles a name the Manager has no certificate for.
func (s *state) slowPath(ctx context.Context, name string) (*tls.Certificate, error) {
	if s.names[name] || s.policy != nil {
		// A name whose order failed recently waits for the manager's
		// backoff instead of ordering again at every handshake.
		if err := s.neg.get(name, time.Now()); err != nil {
			return nil, err
		}
	}
	if s.names[name] {
		return s.wait(ctx, name, s.flightFor(ctx, name, false))
	}
	if s.policy == nil {
		return nil, fmt.Errorf("%w: no certificate for %q", ErrNotAllowed, name)
	}
	if err := s.allowed(ctx, name); err != nil {
		s.refusals.add(ctx, s, "not_allowed", name)
		return nil, err
	}
	f, err := s.admit(ctx, name)
	if err != nil {
		reason := "rate_limited"
		if errors.Is(err, errCap) {
			reason = "cap"
		}
		s.refusals.add(ctx, s, reason, name)
		return nil, err
	}
	return s.wait(ctx, name, f)
}

// allowed applies the on-demand policy's allowlist and decision function.
func (s *state) allowed(ctx context.Context, name string) error {
	if n, err := issue.NormalizeDNSName(name); err != nil || n != name || strings.HasPrefix(n, "*.") {
		return fmt.Errorf("%w: %q is not a valid DNS name", ErrNotAllowed, name)
	}
	if s.allow.match(name) {
		return nil
	}
	if s.policy.Decide != nil {
		if err := s.policy.Decide(ctx, name); err != nil {
			return fmt.Errorf("%w: %q: %w", ErrNotAllowed, name, err)
		}
		return nil
	}
	return fmt.Errorf("%w: %q", ErrNotAllowed, name)
}

// admit joins the issuance of name in flight, or starts one within the
// cap and the rate limits.
func (s *state) admit(ctx context.Context, name string) (*flight, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.flights[name]; f != nil {
		return f, nil
	}
	if !s.onDemand[name] {
		if max := s.policy.MaxCertificates; max > 0 && len(s.onDemand) >= max && !s.releaseIdleLocked(time.Now()) {
			return nil, fmt.Errorf("%w: %w: %d on-demand certificates already, none idle", ErrRateLimited, errCap, max)
		}
		if err := s.limits.allow(name, time.Now()); err != nil {
			return nil, err
		}
		s.onDemand[name] = true
		v := new(atomic.Int64)
		v.Store(time.Now().UnixNano())
		s.lastUse.Store(name, v)
	}
	return s.startLocked(ctx, name, true), nil
}

// flightFor joins or starts the issuance of a configured name.
func (s *state) flightFor(ctx context.Context, name string, onDemand bool) *flight {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.flights[name]; f != nil {
		return f
	}
	return s.startLocked(ctx, name, onDemand)
}

// startLocked starts obtaining name in the background, apart from the
// handshake that asked (whose context values it keeps): other handshakes
// and the next connection of the same client benefit from it.
func (s *state) startLocked(ctx context.Context, name string, onDemand bool) *flight {
	f := &flight{done: make(chan struct{})}
	s.flights[name] = f
	timeout := DefaultIssueTimeout
	if s.policy != nil {
		timeout = s.policy.IssueTimeout
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	go func() {
		defer cancel()
		f.err = s.obtain(ictx, name, onDemand)
		s.mu.Lock()
		delete(s.flights, name)
		if f.err != nil && onDemand {
			delete(s.onDemand, name)
			s.lastUse.Delete(name)
		}
		s.mu.Unlock()
		close(f.done)
	}()
	return f
}

func (s *state) obtain(ctx context.Context, name string, onDemand bool) error {
	m := s.cfg.Manager
	if m.Lookup(name) != nil {
		return nil
	}
	if onDemand {
		mc, err := s.cfg.Spec(name)
		if err != nil {
			return err
		}
		s.log.InfoContext(ctx, "obtaining on-demand certificate", "name", name)
		if err := m.Manage(ctx, mc); err != nil {
			return err
		}
		if m.Lookup(name) != nil {
			return nil // released earlier, loaded back from the store
		}
	}
	err := m.Renew(ctx, name)
	if err == nil && m.Lookup(name) == nil {
		err = fmt.Errorf("autotls: %s was renewed but the manager has no certificate for it", name)
	}
	if err != nil {
		s.neg.put(name, fmt.Errorf("autotls: obtaining %s failed recently: %w", name, err), time.Now())
		s.log.WarnContext(ctx, "certificate not obtained", "name", name, "on_demand", onDemand, "err", err)
	}
	if err != nil && onDemand {
		// Forget the name: the manager must not keep retrying a name
		// that a client made up.
		m.Unmanage(name)
	}
	return err
}

// wait waits for f, for at most the handshake wait and ctx.
func (s *state) wait(ctx context.Context, name string, f *flight) (*tls.Certificate, error) {
	wait := DefaultHandshakeWait
	if s.policy != nil {
		wait = s.policy.HandshakeWait
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-f.done:
	case <-t.C:
		return nil, fmt.Errorf("autotls: certificate for %q still being obtained after %v", name, wait)
	case <-ctx.Done():
		return nil, fmt.Errorf("autotls: certificate for %q: %w", name, ctx.Err())
	}
	if f.err != nil {
		return nil, f.err
	}
	if cert := s.cfg.Manager.Lookup(name); cert != nil {
		return cert, nil
	}
	return nil, fmt.Errorf("autotls: no certificate for %q", name)
}
