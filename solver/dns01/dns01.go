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
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
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
	//		return challenge.CheckDNS01(ctx, "ns1.example.net:53", c)
	//	}
	Check func(ctx context.Context, chal acme.Challenge) error
	// Backoff is the pause before each retry of Check; the last entry
	// repeats. Nil means 2s, 2s, 4s, 8s, 15s, then every 30s until the
	// context given to Wait is done.
	Backoff []time.Duration
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
	if err := sleep(ctx, c.PropagationDelay); err != nil {
		return fmt.Errorf("dns01: waiting %v for propagation: %w", c.PropagationDelay, err)
	}
	if c.Check == nil {
		return nil
	}
	schedule := c.Backoff
	if len(schedule) == 0 {
		schedule = defaultBackoff()
	}
	for attempt := 0; ; attempt++ {
		err := c.Check(ctx, chal)
		if err == nil {
			return nil
		}
		if serr := sleep(ctx, backoff(schedule, attempt)); serr != nil {
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
