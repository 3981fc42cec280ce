//go:build !ckchild

package bench

// StartEnv is left out of ckbench's child binaries (built with the tag
// ckchild): they attach to the Pebble ckbench started and link neither
// acmetest nor what it brings (the testing package, miekg/dns, Pebble's
// starter), so that a child's memory is its client's and the harness's.

import (
	"context"

	"github.com/certkeeper/certkeeper/acmetest"
)

// EnvOptions configures StartEnv.
type EnvOptions struct {
	// PebbleBinary is the pebble executable; "" means acmetest.FindPebble
	// (the pinned Pebble, built once into the user cache).
	PebbleBinary string
	// NonceRejectPercent is passed to Pebble as PEBBLE_WFE_NONCEREJECT.
	NonceRejectPercent int
	// NoResponder leaves the http-01 port free for another process's
	// responder (see AttachEnv).
	NoResponder bool
}

// StartEnv starts Pebble (no validation sleep, no Retry-After, no
// authorization reuse, every name resolving to 127.0.0.1) and the shared
// http-01 responder on Pebble's HTTP validation port.
func StartEnv(ctx context.Context, opts EnvOptions) (*Env, error) {
	p, err := acmetest.StartPebble(ctx, acmetest.PebbleOptions{
		Binary:             opts.PebbleBinary,
		NonceRejectPercent: opts.NonceRejectPercent,
	})
	if err != nil {
		return nil, err
	}
	e := &Env{Pebble: p, DirectoryURL: p.DirectoryURL, HTTPPort: p.HTTPPort, TLSRootPEM: p.TLSRootPEM(),
		NonceRejectPercent: opts.NonceRejectPercent, Challenges: &ChallengeHandler{}}
	if !opts.NoResponder {
		if err := e.listen(); err != nil {
			p.Close()
			return nil, err
		}
	}
	return e, nil
}
