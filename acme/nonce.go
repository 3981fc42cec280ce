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
//
// It also knows how many signed requests are in flight ("out"): each
// answer carries a fresh nonce (§6.5: the server MUST send one with every
// successful response to a POST, and Pebble and Boulder do on errors too).
// A caller that finds the pool empty waits for one of those answers
// instead of asking newNonce, but only as long as there is an answer to
// come that no other waiter has claimed: one answer serves one waiter.
// The request waited for was sent earlier, so the wait is usually shorter
// than a newNonce round trip sent now, and it saves that request. Requests
// a CA may take long to answer (finalize) are not waited for.
// A burst of requests wider than the nonces in hand and in flight still
// fetches the difference, so concurrency is never capped by the pool.
type noncePool struct {
	mu     sync.Mutex
	nonces []string
	// out counts the nonces handed out for requests whose answers have
	// not come back and may be waited for (not finalize: see Client.post).
	out int
	// waiters are callers waiting for a nonce, first come first served;
	// never more of them than out. A waiter receives a nonce, or "" when
	// fewer answers are to come than there are waiters (one came without
	// a nonce): it then fetches its own.
	waiters []chan string
}

func (p *noncePool) put(n string) {
	if !validNonce(n) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiters) > 0 {
		// The waiter now holds a nonce for a request it will send.
		p.out++
		p.handOff(n)
		return
	}
	if len(p.nonces) >= maxPooledNonces {
		copy(p.nonces, p.nonces[1:])
		p.nonces = p.nonces[:len(p.nonces)-1]
	}
	p.nonces = append(p.nonces, n)
}

// handOff gives n to the first waiter. p.mu is held.
func (p *noncePool) handOff(n string) {
	ch := p.waiters[0]
	p.waiters = p.waiters[1:]
	ch <- n
}

// acquire returns a nonce for a request that will be sent: a pooled one,
// or the one an answer in flight brings (see noncePool). ok is false when
// the caller must fetch one (then counted by fetched).
func (p *noncePool) acquire(ctx context.Context) (n string, ok bool, err error) {
	p.mu.Lock()
	if len(p.nonces) > 0 {
		n = p.nonces[len(p.nonces)-1]
		p.nonces = p.nonces[:len(p.nonces)-1]
		p.out++
		p.mu.Unlock()
		return n, true, nil
	}
	if len(p.waiters) >= p.out {
		p.mu.Unlock()
		return "", false, nil
	}
	ch := make(chan string, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	select {
	case n := <-ch:
		return n, n != "", nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	select {
	case n := <-ch:
		if n != "" {
			// Handed over as the context ended: give it back.
			p.giveBack(n)
		}
	default:
	}
	return "", false, ctx.Err()
}

// giveBack returns n, handed out by acquire for a request that will not
// be sent, to the next waiter or the pool. n is put before the request is
// settled: settling first could send a waiter off to fetch a nonce
// (fewer answers to come than waiters) while n is right here.
func (p *noncePool) giveBack(n string) {
	p.put(n)
	p.settle()
}

// fetched counts a nonce from newNonce as out.
func (p *noncePool) fetched() {
	p.mu.Lock()
	p.out++
	p.mu.Unlock()
}

// settle says that the answer to a request sent with a nonce from
// acquire or fetched has come back (its nonce already put), or that the
// request was not sent, or that its answer is not to be waited for (a
// finalize). Waiters beyond the answers still to come get a pooled nonce
// or are told to fetch their own.
func (p *noncePool) settle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out--
	for len(p.waiters) > max(p.out, 0) {
		if len(p.nonces) > 0 {
			n := p.nonces[len(p.nonces)-1]
			p.nonces = p.nonces[:len(p.nonces)-1]
			p.out++
			p.handOff(n)
			continue
		}
		last := p.waiters[len(p.waiters)-1]
		p.waiters = p.waiters[:len(p.waiters)-1]
		last <- ""
	}
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

// nonce returns a nonce for a signed request: a pooled one, the one an
// answer in flight brings (see noncePool), or one fetched with HEAD
// newNonce (RFC 8555 §7.2), retried on transport errors and 5xx
// responses. The caller must call c.nonces.settle once the request's
// answer has come back, or if it is not sent.
func (c *Client) nonce(ctx context.Context) (string, error) {
	if n, ok, err := c.nonces.acquire(ctx); err != nil || ok {
		return n, err
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return "", err
	}
	if dir.NewNonce == "" {
		return "", errors.New("acme: directory has no newNonce URL")
	}
	var resp *response
	err = c.retry(ctx, op{"newNonce", http.MethodHead, dir.NewNonce, "", ""}, func() error {
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
	// do does not pool newNonce's nonce: it is this caller's.
	n := resp.header.Get("Replay-Nonce")
	if !validNonce(n) {
		return "", fmt.Errorf("acme: newNonce response from %s has no valid Replay-Nonce (got %q)", dir.NewNonce, n)
	}
	c.nonces.fetched()
	return n, nil
}
