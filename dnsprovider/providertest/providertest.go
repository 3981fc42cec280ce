// Package providertest checks that a dns01.Provider keeps the contract the
// dns-01 solver relies on, as store/storetest does for stores: run [Run]
// from a test of your provider with a [Harness] that says how to make one
// and how to read the records back from the DNS host.
//
// The checks, each a subtest:
//
//   - AddRemove: after AddTXT the value is at the name; after RemoveTXT it
//     is gone.
//   - TwoValues: two values at one name (a wildcard and its base name are
//     validated so) are both kept; removing one leaves the other.
//   - RemoveTwice: removing a value already removed, or never added,
//     returns nil (clean-up is retried after errors).
//   - Concurrent: values added to several names at once from several
//     goroutines are all there.
//   - Cancelled: AddTXT returns within 5 s when its context is already
//     done.
//
// Values are 43-character base64url strings, the shape of a dns-01 value
// (RFC 8555 §8.4).
package providertest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/solver/dns01"
)

// Harness describes the provider under test.
type Harness struct {
	// New returns the provider, once per subtest; it may register its
	// clean-up with t. Required.
	New func(t *testing.T) dns01.Provider
	// Lookup returns the TXT values now at fqdn on the DNS host (for a
	// DNS server, an authoritative query). Required.
	Lookup func(ctx context.Context, fqdn string) ([]string, error)
	// Zone is the zone the records are written in, fully qualified.
	// Empty means "example.test.".
	Zone string
	// Names, if set, are the only fully qualified names the provider can
	// write (acme-dns: its accounts' full domains); the suite uses them in
	// turn instead of names of its own. At least two.
	Names []string
	// NoRemove says the DNS host cannot delete a value (acme-dns keeps
	// the two latest values per name and has no delete): RemoveTXT must
	// still return nil, and the suite does not check that values go.
	NoRemove bool
}

// Run runs every check of the package against h as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Lookup == nil {
		t.Fatal("providertest: Harness needs New and Lookup")
	}
	if h.Names != nil && len(h.Names) < 2 {
		t.Fatal("providertest: Harness.Names needs at least two names")
	}
	if h.Zone == "" {
		h.Zone = "example.test."
	}
	if !strings.HasSuffix(h.Zone, ".") {
		h.Zone += "."
	}
	n := 0
	name := func(label string) string {
		if h.Names != nil {
			n++
			return h.Names[(n-1)%len(h.Names)]
		}
		return fmt.Sprintf("_acme-challenge.%s-%x.%s", label, mrand.Uint64(), h.Zone)
	}
	t.Run("AddRemove", func(t *testing.T) { testAddRemove(t, h, name("a")) })
	t.Run("TwoValues", func(t *testing.T) { testTwoValues(t, h, name("b")) })
	t.Run("RemoveTwice", func(t *testing.T) { testRemoveTwice(t, h, name("c")) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, h, name("d"), name("e"), name("f")) })
	t.Run("Cancelled", func(t *testing.T) { testCancelled(t, h, name("g")) })
}

// Value returns a random value of the shape of a dns-01 TXT value.
func Value() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// has reports whether value is at fqdn, failing t if the lookup fails.
func has(t *testing.T, h Harness, fqdn, value string) bool {
	t.Helper()
	vals, err := h.Lookup(ctxFor(t), fqdn)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", fqdn, err)
	}
	return slices.Contains(vals, value)
}

func (h Harness) zoneOf(fqdn string) string {
	if h.Names != nil {
		return ""
	}
	return h.Zone
}

func testAddRemove(t *testing.T, h Harness, fqdn string) {
	p, ctx, v := h.New(t), ctxFor(t), Value()
	if has(t, h, fqdn, v) {
		t.Fatal("a fresh value is there before AddTXT: Lookup cannot fail")
	}
	if err := p.AddTXT(ctx, h.zoneOf(fqdn), fqdn, v); err != nil {
		t.Fatalf("AddTXT: %v", err)
	}
	if !has(t, h, fqdn, v) {
		t.Errorf("after AddTXT %s has no %q", fqdn, v)
	}
	if err := p.RemoveTXT(ctx, h.zoneOf(fqdn), fqdn, v); err != nil {
		t.Fatalf("RemoveTXT: %v", err)
	}
	if !h.NoRemove && has(t, h, fqdn, v) {
		t.Errorf("after RemoveTXT %s still has %q", fqdn, v)
	}
}

func testTwoValues(t *testing.T, h Harness, fqdn string) {
	p, ctx := h.New(t), ctxFor(t)
	v1, v2 := Value(), Value()
	for _, v := range []string{v1, v2} {
		if err := p.AddTXT(ctx, h.zoneOf(fqdn), fqdn, v); err != nil {
			t.Fatalf("AddTXT: %v", err)
		}
	}
	if !has(t, h, fqdn, v1) || !has(t, h, fqdn, v2) {
		t.Fatalf("%s does not hold both values added", fqdn)
	}
	if err := p.RemoveTXT(ctx, h.zoneOf(fqdn), fqdn, v1); err != nil {
		t.Fatalf("RemoveTXT: %v", err)
	}
	if !has(t, h, fqdn, v2) {
		t.Errorf("removing one value of %s removed the other", fqdn)
	}
	if !h.NoRemove && has(t, h, fqdn, v1) {
		t.Errorf("%s still has the value removed", fqdn)
	}
	if err := p.RemoveTXT(ctx, h.zoneOf(fqdn), fqdn, v2); err != nil {
		t.Fatalf("RemoveTXT: %v", err)
	}
}

func testRemoveTwice(t *testing.T, h Harness, fqdn string) {
	p, ctx, v := h.New(t), ctxFor(t), Value()
	if err := p.AddTXT(ctx, h.zoneOf(fqdn), fqdn, v); err != nil {
		t.Fatalf("AddTXT: %v", err)
	}
	for i := range 2 {
		if err := p.RemoveTXT(ctx, h.zoneOf(fqdn), fqdn, v); err != nil {
			t.Errorf("RemoveTXT #%d: %v, want nil", i+1, err)
		}
	}
	if err := p.RemoveTXT(ctx, h.zoneOf(fqdn), fqdn, Value()); err != nil {
		t.Errorf("RemoveTXT of a value never added: %v, want nil", err)
	}
}

func testConcurrent(t *testing.T, h Harness, names ...string) {
	p, ctx := h.New(t), ctxFor(t)
	vals := make([]string, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, fqdn := range names {
		vals[i] = Value()
		wg.Go(func() { errs[i] = p.AddTXT(ctx, h.zoneOf(fqdn), fqdn, vals[i]) })
	}
	wg.Wait()
	for i, fqdn := range names {
		if errs[i] != nil {
			t.Errorf("AddTXT(%s): %v", fqdn, errs[i])
			continue
		}
		if !has(t, h, fqdn, vals[i]) {
			t.Errorf("%s lacks its value after concurrent adds", fqdn)
		}
	}
	for i, fqdn := range names {
		if errs[i] == nil {
			if err := p.RemoveTXT(ctx, h.zoneOf(fqdn), fqdn, vals[i]); err != nil {
				t.Errorf("RemoveTXT(%s): %v", fqdn, err)
			}
		}
	}
}

func testCancelled(t *testing.T, h Harness, fqdn string) {
	p := h.New(t)
	done, cancel := context.WithCancel(t.Context())
	cancel()
	v := Value()
	ret := make(chan error, 1)
	go func() { ret <- p.AddTXT(done, h.zoneOf(fqdn), fqdn, v) }()
	select {
	case err := <-ret:
		if err == nil {
			if err := p.RemoveTXT(ctxFor(t), h.zoneOf(fqdn), fqdn, v); err != nil {
				t.Errorf("RemoveTXT: %v", err)
			}
		}
	case <-time.After(5 * time.Second):
		t.Error("AddTXT with a done context has not returned after 5 s")
		<-ret
	}
}

// LookupTXT returns a Harness.Lookup that asks the DNS server at server
// (host:port, e.g. a bindtest.Server's Addr) for the TXT records of a
// name. A name that does not exist, or has no TXT records, has no values.
func LookupTXT(server string) func(ctx context.Context, fqdn string) ([]string, error) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
	return func(ctx context.Context, fqdn string) ([]string, error) {
		vals, err := r.LookupTXT(ctx, fqdn)
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, nil
		}
		return vals, err
	}
}
