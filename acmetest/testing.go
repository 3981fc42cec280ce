package acmetest

import (
	"context"
	"testing"
)

// NewTestPebble starts Pebble for the test t and stops it when t ends. It
// fails t if Pebble cannot start. Pebble is an external process, so a
// test that needs it belongs to the integration tier: under go test
// -short, NewTestPebble skips t before looking for Pebble. When
// opts.Output is nil, Pebble's output is kept and logged only if t fails.
func NewTestPebble(t testing.TB, opts PebbleOptions) *Pebble {
	t.Helper()
	if testing.Short() {
		t.Skip("integration tier (starts Pebble, an external process): skipped under -short")
	}
	p, err := StartPebble(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	logOnFailure := opts.Output == nil
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("acmetest: closing pebble: %v", err)
		}
		if logOnFailure && t.Failed() {
			t.Logf("pebble output (last 16 KiB):\n%s", p.Output())
		}
	})
	return p
}

// NewTestDNSServer starts a DNSServer for the test t and stops it when t
// ends. It fails t if the server cannot start.
func NewTestDNSServer(t testing.TB) *DNSServer {
	t.Helper()
	s, err := StartDNSServer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewTestFaultProxy starts a FaultProxy in front of p for the test t and
// stops it when t ends. It fails t if the proxy cannot start.
func NewTestFaultProxy(t testing.TB, p *Pebble) *FaultProxy {
	t.Helper()
	fp, err := p.NewFaultProxy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fp.Close() })
	return fp
}
