package acme

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
)

// acquireAsync runs p.acquire in a goroutine; its result arrives on the
// channel returned.
func acquireAsync(ctx context.Context, p *noncePool) <-chan [2]any {
	got := make(chan [2]any, 1)
	go func() {
		n, ok, err := p.acquire(ctx)
		if err != nil {
			got <- [2]any{"", err}
			return
		}
		if !ok {
			n = "fetch"
		}
		got <- [2]any{n, nil}
	}()
	return got
}

// A request that finds the pool empty while another is in flight takes
// the nonce of that answer; a third, with nothing more to come, fetches
// its own at once.
func TestNonceFromAnswerInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p noncePool
		p.put("bm9uY2UtMQ")
		if n, ok, err := p.acquire(t.Context()); !ok || err != nil || n != "bm9uY2UtMQ" {
			t.Fatalf("acquire with one pooled: %q %v %v", n, ok, err)
		}
		second := acquireAsync(t.Context(), &p)
		synctest.Wait()
		select {
		case r := <-second:
			t.Fatalf("second request did not wait for the answer in flight: %v", r)
		default:
		}
		// The one answer to come is claimed: the third fetches.
		if n, ok, err := p.acquire(t.Context()); ok || err != nil {
			t.Fatalf("third acquire: %q %v %v, want a fetch", n, ok, err)
		}
		p.fetched()
		// The first request's answer brings a nonce.
		p.put("bm9uY2UtMg")
		p.settle()
		if r := <-second; r[0] != "bm9uY2UtMg" {
			t.Fatalf("second got %v, want the answer's nonce", r)
		}
		p.settle() // the third's answer: no nonce
		p.settle() // the second's answer: no nonce
		if p.out != 0 || len(p.waiters) != 0 {
			t.Errorf("out %d, waiters %d after every answer", p.out, len(p.waiters))
		}
	})
}

// An answer without a nonce (a transport error) sends its waiter to fetch
// one; a waiter whose context ends returns its error and leaves no trace.
func TestNonceWaiterReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p noncePool
		p.put("bm9uY2UtMQ")
		p.acquire(t.Context())
		waiter := acquireAsync(t.Context(), &p)
		synctest.Wait()
		p.settle()
		if r := <-waiter; r[0] != "fetch" {
			t.Fatalf("waiter got %v after an answer without nonce, want a fetch", r)
		}

		p.fetched()
		ctx, cancel := context.WithCancel(t.Context())
		waiter = acquireAsync(ctx, &p)
		synctest.Wait()
		cancel()
		if r := <-waiter; !errors.Is(r[1].(error), context.Canceled) {
			t.Fatalf("cancelled waiter got %v", r)
		}
		p.put("bm9uY2UtMg")
		p.settle()
		if n, ok, _ := p.acquire(t.Context()); !ok || n != "bm9uY2UtMg" {
			t.Errorf("nonce after a cancelled waiter: %q %v, want it pooled", n, ok)
		}
	})
}

// A nonce handed to a waiter whose context has ended goes to the next
// waiter, which must not be sent to fetch one of its own meanwhile.
func TestNonceGivenBackServesNextWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p noncePool
		p.put("bm9uY2UtMQ")
		p.acquire(t.Context()) // request R in flight
		first := acquireAsync(t.Context(), &p)
		synctest.Wait()
		p.put("bm9uY2UtMg") // R's answer, handed to first
		p.settle()
		if r := <-first; r[0] != "bm9uY2UtMg" {
			t.Fatalf("first waiter got %v", r)
		}
		// first holds the nonce: one answer to come, so second waits.
		second := acquireAsync(t.Context(), &p)
		synctest.Wait()
		p.giveBack("bm9uY2UtMg") // first's context ended before it sent
		if r := <-second; r[0] != "bm9uY2UtMg" {
			t.Fatalf("second waiter got %v, want the nonce given back", r)
		}
		p.settle()
		if p.out != 0 || len(p.waiters) != 0 || len(p.nonces) != 0 {
			t.Errorf("out %d, waiters %d, pooled %d after every answer", p.out, len(p.waiters), len(p.nonces))
		}
	})
}
