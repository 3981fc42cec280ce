package http01

import (
	"context"
	"errors"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// Callback solves http-01 with functions of your own, for example to
// push the response to a fleet of web servers or an object store. The
// functions must be safe for concurrent use. Use challenge.HTTP01Path for
// the path and chal.KeyAuthorization for the body.
type Callback struct {
	// PresentFunc puts the response in place. Required.
	PresentFunc func(ctx context.Context, chal acme.Challenge) error
	// CleanUpFunc removes it. Nil means nothing to clean up.
	CleanUpFunc func(ctx context.Context, chal acme.Challenge) error
}

var _ challenge.Solver = Callback{}

// Present calls PresentFunc.
func (c Callback) Present(ctx context.Context, chal acme.Challenge) error {
	if c.PresentFunc == nil {
		return errors.New("http01: Callback.PresentFunc is nil")
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
