package bench

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Counter is an http.RoundTripper that counts every request sent through it,
// by ACME endpoint. The same Counter type wraps the transport of all three
// clients, so their request counts are comparable.
type Counter struct {
	// Base sends the requests.
	Base http.RoundTripper

	mu       sync.Mutex
	total    int
	badNonce int
	byEP     map[string]int
}

// RoundTrip implements http.RoundTripper.
func (c *Counter) RoundTrip(req *http.Request) (*http.Response, error) {
	ep := Endpoint(req)
	resp, err := c.Base.RoundTrip(req)
	bad := false
	if err == nil && resp.StatusCode == http.StatusBadRequest {
		// Peek at the problem document to count badNonce rejections, then
		// give the client an identical body.
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if rerr == nil && bytes.Contains(body, []byte("urn:ietf:params:acme:error:badNonce")) {
			bad = true
		}
	}
	c.mu.Lock()
	if c.byEP == nil {
		c.byEP = make(map[string]int)
	}
	c.total++
	c.byEP[ep]++
	if bad {
		c.badNonce++
	}
	c.mu.Unlock()
	return resp, err
}

// Snapshot is a copy of a Counter's counts.
type Snapshot struct {
	Total    int
	BadNonce int
	// ByEndpoint maps an endpoint name (see Endpoint) to its request count.
	ByEndpoint map[string]int
}

// Snapshot returns the counts so far.
func (c *Counter) Snapshot() Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Snapshot{Total: c.total, BadNonce: c.badNonce, ByEndpoint: maps.Clone(c.byEP)}
}

// Reset zeroes the counts.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total, c.badNonce, c.byEP = 0, 0, nil
}

// Endpoints lists the endpoint names of Snapshot.ByEndpoint in flow order.
var Endpoints = []string{
	"directory", "newNonce", "newAccount", "account", "newOrder", "authz",
	"challenge", "order", "finalize", "cert", "renewalInfo", "revokeCert", "other",
}

// pebblePaths maps Pebble 2.x's URL path prefixes to endpoint names.
var pebblePaths = []struct{ prefix, name string }{
	{"/dir", "directory"},
	{"/nonce-plz", "newNonce"},
	{"/sign-me-up", "newAccount"},
	{"/my-account/", "account"},
	{"/order-plz", "newOrder"},
	{"/authZ/", "authz"},
	{"/chalZ/", "challenge"},
	{"/my-order/", "order"},
	{"/finalize-order/", "finalize"},
	{"/certZ/", "cert"},
	{"/draft-ietf-acme-ari-03/renewalInfo/", "renewalInfo"},
	{"/revoke-cert", "revokeCert"},
}

// Endpoint names the ACME resource a request to Pebble is for, from its
// URL path: one of Endpoints.
func Endpoint(req *http.Request) string {
	p := req.URL.Path
	for _, e := range pebblePaths {
		if strings.HasPrefix(p, e.prefix) {
			return e.name
		}
	}
	return "other"
}

// Sub returns s minus an earlier snapshot of the same counter.
func (s Snapshot) Sub(earlier Snapshot) Snapshot {
	out := Snapshot{Total: s.Total - earlier.Total, BadNonce: s.BadNonce - earlier.BadNonce, ByEndpoint: map[string]int{}}
	for _, k := range slices.Sorted(maps.Keys(s.ByEndpoint)) {
		if d := s.ByEndpoint[k] - earlier.ByEndpoint[k]; d != 0 {
			out.ByEndpoint[k] = d
		}
	}
	return out
}
