package acme

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
)

// maxPooledNonces bounds the nonce pool. Servers expire nonces, so a deep
// pool only holds stale ones.
const maxPooledNonces = 32

// noncePool keeps the Replay-Nonce values of past responses (RFC 8555
// §6.5) so that most requests need no newNonce round trip. The newest
// nonce is used first: it is the least likely to have expired.
type noncePool struct {
	mu     sync.Mutex
	nonces []string
}

func (p *noncePool) put(n string) {
	if !validNonce(n) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.nonces) >= maxPooledNonces {
		copy(p.nonces, p.nonces[1:])
		p.nonces = p.nonces[:len(p.nonces)-1]
	}
	p.nonces = append(p.nonces, n)
}

func (p *noncePool) get() (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.nonces) == 0 {
		return "", false
	}
	n := p.nonces[len(p.nonces)-1]
	p.nonces = p.nonces[:len(p.nonces)-1]
	return n, true
}

// take removes n from the pool and reports whether it was there.
func (p *noncePool) take(n string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, m := range p.nonces {
		if m == n {
			p.nonces = append(p.nonces[:i], p.nonces[i+1:]...)
			return true
		}
	}
	return false
}

// validNonce reports whether n is a non-empty base64url string, as RFC 8555
// §6.5.1 requires; anything else would be rejected by the server anyway.
func validNonce(n string) bool {
	if n == "" || len(n) > 512 {
		return false
	}
	for i := 0; i < len(n); i++ {
		b := n[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// nonce returns a pooled nonce, or fetches one with HEAD newNonce (RFC 8555
// §7.2) when the pool is empty. The fetch is retried on transport errors
// and 5xx responses.
func (c *Client) nonce(ctx context.Context) (string, error) {
	if n, ok := c.nonces.get(); ok {
		return n, nil
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return "", err
	}
	if dir.NewNonce == "" {
		return "", errors.New("acme: directory has no newNonce URL")
	}
	var resp *response
	err = c.retry(ctx, op{"newNonce", http.MethodHead, dir.NewNonce, ""}, func() error {
		r, err := c.do(ctx, "newNonce", http.MethodHead, dir.NewNonce, nil, "", maxJSONBody)
		if err != nil {
			return err
		}
		if !isSuccess(r.status) {
			return c.errorResponse("newNonce", dir.NewNonce, r)
		}
		resp = r
		return nil
	})
	if err != nil {
		return "", err
	}
	// do pooled it; take that very nonce back out. Concurrent callers may
	// be fetching too, so the pool's newest nonce is not necessarily ours.
	if n := resp.header.Get("Replay-Nonce"); c.nonces.take(n) {
		return n, nil
	}
	if n, ok := c.nonces.get(); ok {
		return n, nil
	}
	return "", fmt.Errorf("acme: newNonce response from %s has no valid Replay-Nonce (got %q)", dir.NewNonce, resp.header.Get("Replay-Nonce"))
}
