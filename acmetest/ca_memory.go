package acmetest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
)

// MemoryCABase is the base URL of a CA from NewMemoryCA: its directory is
// MemoryCABase + "/dir". Nothing listens there; only the CA's Transport
// answers it.
const MemoryCABase = "https://acme.example.test"

// NewMemoryCA makes a fake CA with no listener: it is reached only
// through Transport (or HTTPClient, which uses it), whose round trips
// call the CA's handler in the requesting goroutine. Its DirectoryURL is
// MemoryCABase + "/dir". It fails only if the in-memory CA's keys cannot
// be made or opts is invalid. Close it when done (it has no server to
// stop, but Close ends held validations).
//
// It exists for tests inside a testing/synctest bubble: a loopback
// connection keeps a bubble from ever being idle, so its fake clock
// would never move; in-memory round trips do not. Made inside the bubble
// (its channels belong to the bubble that makes them), with CAOptions.Now
// left nil, the whole exchange follows the bubble's clock: Retry-After
// waits, polls, order and authorization expiry and the validity of
// issued certificates (the bubble's clock starts at 2000-01-01 UTC), all
// in no real time:
//
//	synctest.Test(t, func(t *testing.T) {
//		ca := acmetest.NewTestMemoryCA(t, acmetest.CAOptions{ProcessingPolls: 2, RetryAfter: time.Minute})
//		c := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
//		// ... register, order, finalize: WaitOrder waits three
//		// Retry-Afters of the bubble's clock, three minutes, at once.
//	})
//
// Validations that CAOptions asks to check for real (HTTP01Addr,
// TLSALPN01Addr, DNSServer) use the network and do not belong in a
// bubble; leave them to the controller. CAFault ConnectionReset and
// DropResponse make the round trip fail with an error that wraps
// syscall.ECONNRESET (DropResponse after the CA acted); Slow waits on the
// bubble's clock.
func NewMemoryCA(opts CAOptions) (*CA, error) {
	ca, err := newCA(opts)
	if err != nil {
		return nil, err
	}
	ca.base = MemoryCABase
	ca.DirectoryURL = ca.base + "/dir"
	return ca, nil
}

// NewTestMemoryCA makes a CA with NewMemoryCA for the test t and closes it
// when t ends. It fails t if the CA cannot be made.
func NewTestMemoryCA(t testing.TB, opts CAOptions) *CA {
	t.Helper()
	ca, err := NewMemoryCA(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ca.Close)
	return ca
}

// Transport returns an http.RoundTripper that answers requests for the
// CA's URLs by calling its handler directly, in the requesting goroutine,
// with no connection, TLS or listener; requests for any other host fail.
// It works for a CA from StartCA too (its URLs are then https://127.0.0.1:PORT).
// A round trip whose request context ends while the CA holds it (a Slow
// fault) fails with the context's error. Faults that close the connection
// fail the round trip with an error wrapping syscall.ECONNRESET.
func (ca *CA) Transport() http.RoundTripper { return memTransport{ca} }

// memTransport is CA.Transport.
type memTransport struct{ ca *CA }

func (t memTransport) RoundTrip(r *http.Request) (resp *http.Response, err error) {
	if r.Body != nil {
		defer r.Body.Close()
	}
	if got := r.URL.Scheme + "://" + r.URL.Host; got != t.ca.base {
		return nil, fmt.Errorf("acmetest: the in-memory transport of %s cannot reach %s", t.ca.base, got)
	}
	ctx := r.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-t.ca.closed:
		return nil, fmt.Errorf("acmetest: %s %s: %w (fake CA closed)", r.Method, r.URL, syscall.ECONNREFUSED)
	default:
	}
	req := r.Clone(ctx)
	if req.Body == nil {
		req.Body = http.NoBody
	}
	req.RequestURI = r.URL.RequestURI()
	req.RemoteAddr = "127.0.0.1:1"
	rec := httptest.NewRecorder()
	defer func() {
		// resetConn panics with http.ErrAbortHandler when it cannot
		// hijack a connection, as here: the client sees a reset.
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			resp, err = nil, fmt.Errorf("acmetest: %s %s: %w", r.Method, r.URL, syscall.ECONNRESET)
			if cerr := ctx.Err(); cerr != nil {
				// A Slow fault gave up with the request's context.
				err = cerr
			}
		}
	}()
	t.ca.handle(rec, req)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	resp = rec.Result()
	resp.Request = r
	return resp, nil
}
