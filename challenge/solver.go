package challenge

import (
	"context"

	"github.com/certkeeper/certkeeper/acme"
)

// Solver makes the CA's validation of one challenge type succeed.
//
// The order flow calls Present for every challenge it is about to accept,
// possibly for several challenges at once and from several goroutines, so
// implementations MUST be safe for concurrent use. For each successful
// Present it calls CleanUp exactly once, with the same challenge, whether
// the order succeeded, failed or was cancelled; CleanUp is given a fresh
// context if the order's context is already done. chal.KeyAuthorization
// is always filled in.
type Solver interface {
	// Present makes the challenge response available (a file, a TXT
	// record, a TLS certificate). It SHOULD return once the response is
	// in place; use Waiter for readiness that takes time to appear.
	Present(ctx context.Context, chal acme.Challenge) error
	// CleanUp removes what Present put in place.
	CleanUp(ctx context.Context, chal acme.Challenge) error
}

// Waiter is implemented by solvers whose response takes time to become
// visible to the CA (DNS propagation). The order flow calls Wait after
// Present and before telling the CA to validate; Wait MUST return when
// ctx is done.
type Waiter interface {
	Wait(ctx context.Context, chal acme.Challenge) error
}
