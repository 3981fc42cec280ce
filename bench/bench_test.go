package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	pebbleBinary = flag.String("pebble", "", "pebble `binary` (default: the pinned Pebble, built once into the user cache)")
	slowNonce    = flag.Bool("xcrypto-nonce", false, "also run x/crypto/acme under 50% nonce rejection (about 25 s per certificate: exponential backoff from 1 s)")
)

var (
	envMu sync.Mutex
	envs  = map[int]*Env{} // by nonce reject percent
)

// env returns the shared environment for a nonce rejection percentage,
// starting it on first use.
func env(b *testing.B, nonceReject int) *Env {
	b.Helper()
	envMu.Lock()
	defer envMu.Unlock()
	if e := envs[nonceReject]; e != nil {
		return e
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e, err := StartEnv(ctx, EnvOptions{PebbleBinary: *pebbleBinary, NonceRejectPercent: nonceReject})
	if err != nil {
		b.Fatal(err)
	}
	envs[nonceReject] = e
	return e
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	for _, e := range envs {
		e.Close()
	}
	os.Exit(code)
}

func report(b *testing.B, e *Env, res Result, err error) {
	b.Helper()
	b.StopTimer()
	if err != nil {
		b.Fatalf("%v\npebble output:\n%s", err, tail(e.Pebble.Output(), 2000))
	}
	b.ReportMetric(res.ReqsPerCert(), "reqs/cert")
	b.ReportMetric(float64(res.Reqs.BadNonce)/float64(res.Certs), "badNonce/cert")
	b.ReportMetric(float64(res.Latency(0.5))/1e6, "p50-ms")
	b.ReportMetric(float64(res.Latency(1))/1e6, "max-ms")
	if testing.Verbose() {
		var parts []string
		for _, ep := range Endpoints {
			if n := res.Reqs.ByEndpoint[ep]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s=%.2f", ep, float64(n)/float64(res.Certs)))
			}
		}
		b.Logf("N=%d %s per cert: %s", res.Certs, res.Client, strings.Join(parts, " "))
	}
	if n := e.Challenges.Len(); n != 0 {
		b.Errorf("%d http-01 tokens left in the handler after %s", n, res.Client)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func skipSlow(b *testing.B, k Kind, nonceReject int) {
	if nonceReject > 0 && k.Name == "x/crypto/acme" && !*slowNonce {
		b.Skip("x/crypto/acme backs off 1 s, 2 s, 4 s... on every badNonce: about 25 s per certificate at 50% rejection; run with -xcrypto-nonce to include it")
	}
}

// Scenario 1: one certificate with a fresh client and account, account
// creation included. ns/op is per certificate.
func benchFresh(b *testing.B, nonceReject int) {
	for _, k := range Kinds {
		b.Run(subName(k), func(b *testing.B) {
			skipSlow(b, k, nonceReject)
			e := env(b, nonceReject)
			res, err := RunFresh(context.Background(), e, k, b.N, b.ResetTimer)
			report(b, e, res, err)
		})
	}
}

// Scenario 2: b.N certificates (use -benchtime 100x for the 100 of the
// scenario) at concurrency 10 with one existing account. ns/op is per
// certificate.
func benchConcurrent(b *testing.B, nonceReject int) {
	for _, k := range Kinds {
		b.Run(subName(k), func(b *testing.B) {
			skipSlow(b, k, nonceReject)
			e := env(b, nonceReject)
			res, err := RunBatch(context.Background(), e, k, b.N, 10, 1, b.ResetTimer)
			report(b, e, res, err)
		})
	}
}

func BenchmarkFreshAccount(b *testing.B) { benchFresh(b, 0) }

func BenchmarkConcurrent10(b *testing.B) { benchConcurrent(b, 0) }

// One certificate at a time with an existing account (the "≤ 7 requests
// per certificate" target). ns/op is per certificate.
func BenchmarkExistingAccount(b *testing.B) {
	for _, k := range Kinds {
		b.Run(subName(k), func(b *testing.B) {
			e := env(b, 0)
			res, err := RunBatch(context.Background(), e, k, b.N, 1, 1, b.ResetTimer)
			report(b, e, res, err)
		})
	}
}

// Scenario 3: one certificate with 10 names, one after the other, with an
// existing account. ns/op is per certificate.
func BenchmarkNames10(b *testing.B) {
	for _, k := range Kinds {
		b.Run(subName(k), func(b *testing.B) {
			e := env(b, 0)
			res, err := RunBatch(context.Background(), e, k, b.N, 1, 10, b.ResetTimer)
			report(b, e, res, err)
		})
	}
}

// Scenario 3f: one certificate with 10 names with a fresh client and
// account, account creation included: every request a client makes for
// its first certificate. ns/op is per certificate.
func BenchmarkNames10FreshAccount(b *testing.B) {
	for _, k := range Kinds {
		b.Run(subName(k), func(b *testing.B) {
			e := env(b, 0)
			res, err := RunFreshNames(context.Background(), e, k, b.N, 10, b.ResetTimer)
			report(b, e, res, err)
		})
	}
}

// Scenario 4: scenarios 1 and 2 with Pebble rejecting 50% of nonces.
func BenchmarkNonceReject50(b *testing.B) {
	b.Run("FreshAccount", func(b *testing.B) { benchFresh(b, 50) })
	b.Run("Concurrent10", func(b *testing.B) { benchConcurrent(b, 50) })
}

func subName(k Kind) string {
	return strings.ReplaceAll(k.Name, "/", "_")
}
