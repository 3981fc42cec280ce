package tlsalpn01

import (
	"context"
	"errors"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// Callback solves tls-alpn-01 with functions of your own, for example to
// install the validation certificate on a load balancer. The functions
// must be safe for concurrent use; challenge.TLSALPN01Certificate makes
// the certificate.
type Callback struct {
	// PresentFunc puts the validation certificate in place. Required.
	PresentFunc func(ctx context.Context, chal acme.Challenge) error
	// CleanUpFunc removes it. Nil means nothing to clean up.
	CleanUpFunc func(ctx context.Context, chal acme.Challenge) error
}

var _ challenge.Solver = Callback{}

// Present calls PresentFunc.
func (c Callback) Present(ctx context.Context, chal acme.Challenge) error {
	if c.PresentFunc == nil {
		return errors.New("tlsalpn01: Callback.PresentFunc is nil")
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
