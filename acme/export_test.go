package acme

import (
	"context"
	"time"
)

// Test-only hooks for the tests of package acme_test, which run against
// acmetest's fake CA (acmetest imports acme, so only the external test
// package can import it).

// Limits and errors the tests check against.
const (
	MaxJSONBody        = maxJSONBody
	MaxChainBody       = maxChainBody
	MaxProblemDetail   = maxProblemDetail
	MaxBadNonceRetries = maxBadNonceRetries
	ContentTypeChain   = contentTypeChain
)

// ErrBodyTooLarge is the error for an answer over its size limit.
var ErrBodyTooLarge = errBodyTooLarge

// SetSchedules replaces c's retry and poll schedules (nil keeps the
// default), for tests that run in real time.
func SetSchedules(c *Client, retry, poll []time.Duration) {
	c.retrySchedule, c.pollSchedule = retry, poll
}

// PutNonce puts n into c's nonce pool, as if a CA had sent it.
func PutNonce(c *Client, n string) { c.nonces.put(n) }

// Bounds of the retry and redirect logic.
const (
	RetryCap             = retryCap
	MaxRedirects         = maxRedirects
	MaxRetryAfterSeconds = maxRetryAfterSeconds
)

// Nonce takes a nonce for a request, from c's pool or from newNonce.
func Nonce(ctx context.Context, c *Client) (string, error) { return c.nonce(ctx) }

// EmptyNonces empties c's nonce pool.
func EmptyNonces(c *Client) { c.nonces = noncePool{} }
