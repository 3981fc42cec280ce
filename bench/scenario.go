package bench

import (
	"context"
	"fmt"
)

// Params sizes the scenarios (ckbench's flags).
type Params struct {
	// Fresh is the number of certificates in scenarios 1 and 4a.
	Fresh int
	// N and C are the certificates and the concurrency of 2 and 4b.
	N, C int
	// Multi is the number of 10-name certificates in 3 and 3f.
	Multi int
	// NonceReject is the share of nonces Pebble rejects in 4a and 4b.
	NonceReject int
	// XCryptoFresh and XCryptoN cap the certificates of x/crypto/acme in
	// 4a and 4b (it sleeps seconds on every badNonce); 0 skips it there.
	XCryptoFresh, XCryptoN int
}

// Scenario is one row kind of the benchmark.
type Scenario struct {
	ID, Title string
	// Reject is the Pebble nonce rejection percentage it needs.
	Reject int
	// Run runs it for one client; it returns a zero Result with Certs 0
	// when the client is skipped in it.
	Run func(ctx context.Context, env *Env, k Kind) (Result, error)
}

// Scenarios returns the benchmark's scenarios, in order.
func Scenarios(p Params) []Scenario {
	capped := func(k Kind, n, xcrypto int) int {
		if k.Name == xcryptoName {
			return min(n, xcrypto)
		}
		return n
	}
	return []Scenario{
		{"1", "fresh account, 1 name", 0, func(ctx context.Context, e *Env, k Kind) (Result, error) {
			return RunFresh(ctx, e, k, p.Fresh, nil)
		}},
		{"1p", "fresh account, 1 name, one certificate per process", 0, func(ctx context.Context, e *Env, k Kind) (Result, error) {
			return RunFresh(ctx, e, k, 1, nil)
		}},
		{"1e", "existing account, 1 name, one at a time", 0, func(ctx context.Context, e *Env, k Kind) (Result, error) {
			return RunBatch(ctx, e, k, p.Fresh, 1, 1, nil)
		}},
		{"2", fmt.Sprintf("%d certs at concurrency %d, 1 name", p.N, p.C), 0, func(ctx context.Context, e *Env, k Kind) (Result, error) {
			return RunBatch(ctx, e, k, p.N, p.C, 1, nil)
		}},
		{"3", "10 names", 0, func(ctx context.Context, e *Env, k Kind) (Result, error) {
			return RunBatch(ctx, e, k, p.Multi, 1, 10, nil)
		}},
		{"3f", "10 names, fresh account", 0, func(ctx context.Context, e *Env, k Kind) (Result, error) {
			return RunFreshNames(ctx, e, k, p.Multi, 10, nil)
		}},
		{"4a", fmt.Sprintf("fresh account, %d%% nonces rejected", p.NonceReject), p.NonceReject, func(ctx context.Context, e *Env, k Kind) (Result, error) {
			return RunFresh(ctx, e, k, capped(k, p.Fresh, p.XCryptoFresh), nil)
		}},
		{"4b", fmt.Sprintf("%d certs at concurrency %d, %d%% nonces rejected", p.N, p.C, p.NonceReject), p.NonceReject, func(ctx context.Context, e *Env, k Kind) (Result, error) {
			return RunBatch(ctx, e, k, capped(k, p.N, p.XCryptoN), p.C, 1, nil)
		}},
	}
}

// Skipped reports whether scenario sc does not run client k (x/crypto/acme
// under nonce rejection with a cap of 0).
func (p Params) Skipped(sc Scenario, k Kind) bool {
	if sc.Reject == 0 || k.Name != xcryptoName {
		return false
	}
	return map[string]int{"4a": p.XCryptoFresh, "4b": p.XCryptoN}[sc.ID] == 0
}
