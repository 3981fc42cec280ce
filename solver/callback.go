package solver

import (
	"context"
	"fmt"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// Callback solves a challenge of any type with two functions of your own:
// to push an http-01 response to a fleet of web servers or an object
// store, to install a tls-alpn-01 certificate on a load balancer, and so
// on. Use challenge.HTTP01Path and chal.KeyAuthorization for http-01,
// challenge.TLSALPN01Certificate for tls-alpn-01. For DNS challenges,
// dns01.Callback adds the wait for propagation.
//
// The functions must be safe for concurrent use: the order flow presents
// every challenge of an order at once.
type Callback struct {
	// PresentFunc puts the response for chal in place. Required: Present
	// fails without it.
	PresentFunc func(ctx context.Context, chal acme.Challenge) error
	// CleanUpFunc removes it. Nil means nothing to clean up.
	CleanUpFunc func(ctx context.Context, chal acme.Challenge) error
}

var _ challenge.Solver = Callback{}

// Present calls PresentFunc, or fails if it is nil.
func (c Callback) Present(ctx context.Context, chal acme.Challenge) error {
	if c.PresentFunc == nil {
		return fmt.Errorf("%s solver: Callback.PresentFunc is nil", chal.Type)
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
