package http01

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// Handler is both the Solver and the http.Handler for http-01 in a Go
// server that already listens on port 80: Present records the token's
// key authorization in memory, ServeHTTP answers GET and HEAD for
// /.well-known/acme-challenge/<token> with it as text/plain, and CleanUp
// forgets it. Other requests go to Next, or get 404 if Next is nil. The
// zero value is ready to use; a Handler must not be copied after first
// use. It is safe for concurrent use.
type Handler struct {
	// Next serves every request that is not for a presented token, for
	// example the site itself or a redirect to HTTPS. Nil means 404. It
	// must not change after first use.
	Next http.Handler

	mu     sync.RWMutex
	tokens map[string]*entry
}

// entry counts Presents of one token, so that two orders presenting the
// same challenge do not remove each other's response.
type entry struct {
	keyAuth string
	refs    int
}

var (
	_ challenge.Solver = (*Handler)(nil)
	_ http.Handler     = (*Handler)(nil)
)

// Present starts answering for chal.Token.
func (h *Handler) Present(ctx context.Context, chal acme.Challenge) error {
	if err := checkChallenge(chal); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tokens == nil {
		h.tokens = make(map[string]*entry)
	}
	if e, ok := h.tokens[chal.Token]; ok {
		e.keyAuth = chal.KeyAuthorization
		e.refs++
		return nil
	}
	h.tokens[chal.Token] = &entry{keyAuth: chal.KeyAuthorization, refs: 1}
	return nil
}

// CleanUp stops answering for chal.Token once every Present of it has
// been cleaned up.
func (h *Handler) CleanUp(ctx context.Context, chal acme.Challenge) error {
	h.release(chal.Token)
	return nil
}

// release drops one Present of token and reports whether there was one
// to drop.
func (h *Handler) release(token string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.tokens[token]
	if !ok {
		return false
	}
	e.refs--
	if e.refs <= 0 {
		delete(h.tokens, token)
	}
	return true
}

// ServeHTTP answers the CA's requests for presented tokens.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if keyAuth, ok := h.lookup(r); ok {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(keyAuth)))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte(keyAuth))
		}
		return
	}
	if h.Next != nil {
		h.Next.ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r)
}

func (h *Handler) lookup(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", false
	}
	token, ok := strings.CutPrefix(r.URL.Path, challenge.HTTP01Prefix)
	if !ok || !challenge.ValidToken(token) {
		return "", false
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	e, ok := h.tokens[token]
	if !ok {
		return "", false
	}
	return e.keyAuth, true
}
