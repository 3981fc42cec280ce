// Package dns01 solves the DNS-based challenges, dns-01 (RFC 8555 §8.4),
// dns-account-01 and dns-persist-01, by writing TXT records at a DNS host,
// and waits for the records to become visible before the CA is asked to
// look.
//
// Solver does it all for a Provider (RFC 2136, a script, a webhook,
// acme-dns, any libdns provider: see the dnsprovider packages): it follows
// CNAMEs of the record's name to the zone that really holds it, has the
// Provider add the value, checks that every authoritative server of that
// zone serves it (Propagation: a server lags only when it answers without
// the value; addresses this host cannot reach are reported, not waited
// for), and removes exactly that value afterwards.
// Callback is the lower-level alternative, with functions of your own.
// Resolver and Propagation can also be used alone.
package dns01

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/internal/progress"
)

// Callback solves DNS challenges with functions of your own and
// implements challenge.Waiter so that the order flow waits for
// propagation. The functions must be safe for concurrent use.
type Callback struct {
	// PresentFunc creates the TXT record given by
	// challenge.RecordFor(chal), adding to any records already at that
	// name (a wildcard and a plain name share one). Required.
	PresentFunc func(ctx context.Context, chal acme.Challenge) error
	// CleanUpFunc deletes that record and no other. Nil means nothing to
	// clean up.
	CleanUpFunc func(ctx context.Context, chal acme.Challenge) error

	// PropagationDelay is waited in Wait before the first Check, for
	// providers that publish updates after a known delay. Zero means no
	// wait.
	PropagationDelay time.Duration
	// Check, if set, is called by Wait until it returns nil, with the
	// pauses of Backoff in between; for example
	//
	//	func(ctx context.Context, c acme.Challenge) error {
	//		return dns01.SelfCheck(ctx, "ns1.example.net:53", c)
	//	}
	Check func(ctx context.Context, chal acme.Challenge) error
	// Backoff is the pause before each retry of Check; the last entry
	// repeats. Nil means 2s, 2s, 4s, 8s, 15s, then every 30s until the
	// context given to Wait is done.
	Backoff []time.Duration
	// Logger receives the progress of Wait at Info level: a line before a
	// PropagationDelay of a second or more, and for the failed Checks one
	// line every few seconds at most (the others at Debug). nil logs
	// nothing.
	Logger *slog.Logger
}

// defaultBackoff is quick at first, as most providers publish within
// seconds, then settles at 30 seconds until the order's context gives up.
func defaultBackoff() []time.Duration {
	return []time.Duration{2 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 30 * time.Second}
}

var (
	_ challenge.Solver = Callback{}
	_ challenge.Waiter = Callback{}
)

// Present checks that chal is a DNS challenge and calls PresentFunc.
func (c Callback) Present(ctx context.Context, chal acme.Challenge) error {
	if c.PresentFunc == nil {
		return errors.New("dns01: Callback.PresentFunc is nil")
	}
	if _, _, err := challenge.RecordFor(chal); err != nil {
		return fmt.Errorf("dns01: %w", err)
	}
	return c.PresentFunc(ctx, chal)
}

// CleanUp calls CleanUpFunc if it is set.
func (c Callback) CleanUp(ctx context.Context, chal acme.Challenge) error {
	if c.CleanUpFunc == nil {
		return nil
	}
	return c.CleanUpFunc(ctx, chal)
}

// Wait waits PropagationDelay, then polls Check until it succeeds. It
// returns early with ctx's error (and Check's last error, if any) when
// ctx is done.
func (c Callback) Wait(ctx context.Context, chal acme.Challenge) error {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	name, _, _ := challenge.RecordFor(chal)
	who := []slog.Attr{slog.String("name", name), slog.String("identifier", identifierOf(chal))}
	if err := pause(ctx, log, c.PropagationDelay, "waiting for the TXT record to propagate", who...); err != nil {
		return fmt.Errorf("dns01: waiting %v for propagation: %w", c.PropagationDelay, err)
	}
	if c.Check == nil {
		return nil
	}
	schedule := c.Backoff
	if len(schedule) == 0 {
		schedule = defaultBackoff()
	}
	said := progress.NewThrottle(start)
	for attempt := 0; ; attempt++ {
		err := c.Check(ctx, chal)
		if err == nil {
			return nil
		}
		next := backoff(schedule, attempt)
		level := slog.LevelDebug
		if now := time.Now(); said.Due(now, next) {
			level = slog.LevelInfo
		}
		log.LogAttrs(ctx, level, "TXT record not visible yet: checking again",
			append(who, slog.Int("attempt", attempt+1), slog.String("reason", err.Error()),
				progress.Waited(time.Since(start)), progress.NextIn(next))...)
		if serr := sleep(ctx, next); serr != nil {
			return fmt.Errorf("dns01: record not visible after %d checks: %w (last check: %w)", attempt+1, serr, err)
		}
	}
}

// backoff returns the pause after the given failed attempt (0-based).
func backoff(schedule []time.Duration, attempt int) time.Duration {
	if attempt < len(schedule) {
		return schedule[attempt]
	}
	return schedule[len(schedule)-1]
}

// pause waits d or until ctx is done, saying first at Info level on log,
// with attrs, that it waits d when d is a second or more.
func pause(ctx context.Context, log *slog.Logger, d time.Duration, msg string, attrs ...slog.Attr) error {
	if d >= progress.Threshold {
		log.LogAttrs(ctx, slog.LevelInfo, msg, append(attrs[:len(attrs):len(attrs)], progress.NextIn(d))...)
	}
	return sleep(ctx, d)
}

// identifierOf is the identifier chal validates as the user wrote it:
// with "*." for a wildcard.
func identifierOf(chal acme.Challenge) string {
	if chal.Wildcard && !strings.HasPrefix(chal.Identifier.Value, "*.") {
		return "*." + chal.Identifier.Value
	}
	return chal.Identifier.Value
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
