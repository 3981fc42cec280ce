// Package shared solves http-01 and tls-alpn-01 challenges through a
// store.Store that several instances share, so that whichever instance
// the CA's validation request reaches (behind a load balancer or DNS
// round robin) answers a challenge that another instance presented.
//
// Present writes the response into the store:
//
//	challenges/http-01/<token>        the key authorization, as text
//	challenges/tls-alpn-01/<sni>      JSON: identifier and key authorization
//
// where <sni> is the name the CA sends in its acme-tls/1 handshake (the
// reversed address under in-addr.arpa or ip6.arpa for IP identifiers,
// RFC 8738). HTTPHandler and GetCertificate read it back, through a small
// in-memory cache that a store.Watcher keeps fresh (see Watch).
package shared

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/solver/tlsalpn01"
	"github.com/certkeeper/certkeeper/store"
)

// Prefix is the store directory of every challenge response.
const Prefix = "challenges/"

const (
	http01Dir    = Prefix + "http-01/"
	tlsALPN01Dir = Prefix + "tls-alpn-01/"
)

// Cache lifetimes. A response, once presented, does not change until it
// is cleaned up, so a found one is kept a while; an absence is kept only
// a moment, since the CA asks right after another instance's Present.
const (
	// DefaultCacheTTL is how long a response read from the store is
	// served from memory when the store cannot be watched.
	DefaultCacheTTL = 2 * time.Second
	// WatchedCacheTTL replaces it while Watch runs: changes then evict
	// entries as they happen.
	WatchedCacheTTL = time.Minute
	// MissTTL is how long a response found missing stays missing.
	MissTTL = 250 * time.Millisecond
)

// Solver is a challenge.Solver for http-01 and tls-alpn-01 that keeps
// the responses in Store, and the server side that answers them from
// there. The zero value is not usable: set Store. It is safe for
// concurrent use; its fields must not change after first use.
type Solver struct {
	// Store is the store every instance shares. Required.
	Store store.Store
	// Logger receives store failures met while answering; nil discards
	// them.
	Logger *slog.Logger

	mu       sync.Mutex
	cache    map[string]cached
	watching int                         // Watch loops running
	certs    map[string]*tls.Certificate // tls-alpn-01 certificates by key authorization
}

type cached struct {
	value   []byte // nil: missing
	expires time.Time
}

var _ challenge.Solver = (*Solver)(nil)

// tlsALPNRecord is the value of a tls-alpn-01 key.
type tlsALPNRecord struct {
	Type             acme.IdentifierType `json:"type"`
	Value            string              `json:"value"`
	KeyAuthorization string              `json:"key_authorization"`
}

// key returns where chal's response is kept, and the value to keep.
func key(chal acme.Challenge) (string, []byte, error) {
	switch chal.Type {
	case acme.ChallengeHTTP01:
		if !challenge.ValidToken(chal.Token) {
			return "", nil, fmt.Errorf("shared: invalid token %q", chal.Token)
		}
		return http01Dir + chal.Token, []byte(chal.KeyAuthorization), nil
	case acme.ChallengeTLSALPN01:
		sni := challenge.TLSALPN01ServerName(chal.Identifier)
		if sni == "" || store.ValidateKey(sni) != nil {
			return "", nil, fmt.Errorf("shared: invalid identifier %q", chal.Identifier.Value)
		}
		v, err := json.Marshal(tlsALPNRecord{Type: chal.Identifier.Type, Value: chal.Identifier.Value, KeyAuthorization: chal.KeyAuthorization})
		return tlsALPN01Dir + sni, v, err
	}
	return "", nil, fmt.Errorf("shared: cannot solve a %q challenge", chal.Type)
}

// Present writes chal's response to the store, where every instance finds
// it.
func (s *Solver) Present(ctx context.Context, chal acme.Challenge) error {
	if chal.KeyAuthorization == "" {
		return errors.New("shared: challenge without a key authorization")
	}
	k, v, err := key(chal)
	if err != nil {
		return err
	}
	if err := s.Store.Put(ctx, k, v); err != nil {
		return fmt.Errorf("shared: presenting: %w", err)
	}
	s.remember(k, v, DefaultCacheTTL)
	return nil
}

// CleanUp removes chal's response from the store, unless another order
// has replaced it meanwhile (tls-alpn-01 responses are per name).
func (s *Solver) CleanUp(ctx context.Context, chal acme.Challenge) error {
	k, v, err := key(chal)
	if err != nil {
		return err
	}
	s.forget(k)
	cur, err := s.Store.Get(ctx, k)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("shared: cleaning up: %w", err)
	}
	if string(cur) != string(v) {
		return nil
	}
	if err := s.Store.Delete(ctx, k); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("shared: cleaning up: %w", err)
	}
	return nil
}

// lookup returns the response at k, from the cache or the store.
func (s *Solver) lookup(ctx context.Context, k string) ([]byte, bool) {
	now := time.Now()
	s.mu.Lock()
	c, ok := s.cache[k]
	watched := s.watching > 0
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.value, c.value != nil
	}
	v, err := s.Store.Get(ctx, k)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.remember(k, nil, MissTTL)
		return nil, false
	case err != nil:
		if s.Logger != nil {
			s.Logger.WarnContext(ctx, "shared: cannot read a challenge response", "key", k, "error", err)
		}
		return nil, false
	}
	ttl := DefaultCacheTTL
	if watched {
		ttl = WatchedCacheTTL
	}
	s.remember(k, v, ttl)
	return v, true
}

func (s *Solver) remember(k string, v []byte, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		s.cache = map[string]cached{}
	}
	// Drop expired entries now and then, so that the cache stays as
	// small as the challenges under way.
	if len(s.cache) > 64 {
		now := time.Now()
		for k, c := range s.cache {
			if now.After(c.expires) {
				delete(s.cache, k)
			}
		}
	}
	s.cache[k] = cached{value: v, expires: time.Now().Add(ttl)}
}

func (s *Solver) forget(k string) {
	s.mu.Lock()
	delete(s.cache, k)
	s.mu.Unlock()
}

// Watch keeps the cache in step with the store until ctx is done: every
// change under Prefix, by any instance, evicts the cached entry at once,
// so found responses can be cached longer (WatchedCacheTTL). It returns
// an error at once if the Store is not a store.Watcher; otherwise it
// returns ctx's error when ctx is done.
func (s *Solver) Watch(ctx context.Context) error {
	w, ok := s.Store.(store.Watcher)
	if !ok {
		return errors.New("shared: the store cannot be watched")
	}
	ch, err := w.Watch(ctx, Prefix)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.watching++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.watching--
		s.mu.Unlock()
	}()
	for ev := range ch {
		s.mu.Lock()
		if ev.Reset {
			clear(s.cache)
		} else {
			delete(s.cache, ev.Key)
		}
		s.mu.Unlock()
	}
	return ctx.Err()
}

// HTTPHandler returns a handler that answers the CA's http-01 requests
// (GET and HEAD of /.well-known/acme-challenge/<token>) from the store,
// and passes every other request to next (nil means 404).
func (s *Solver) HTTPHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if keyAuth, ok := s.HTTP01Response(r); ok {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(keyAuth)))
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			if r.Method != http.MethodHead {
				_, _ = w.Write(keyAuth)
			}
			return
		}
		if next != nil {
			next.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
}

// HTTP01Response returns the key authorization to answer r with, if r is
// an http-01 validation request for a token some instance presented.
func (s *Solver) HTTP01Response(r *http.Request) ([]byte, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return nil, false
	}
	token, ok := strings.CutPrefix(r.URL.Path, challenge.HTTP01Prefix)
	if !ok || !challenge.ValidToken(token) {
		return nil, false
	}
	return s.lookup(r.Context(), http01Dir+token)
}

// GetCertificate returns the tls-alpn-01 validation certificate for
// hello, if hello offers acme-tls/1 and some instance presented a
// challenge for its server name; ok is false otherwise.
func (s *Solver) GetCertificate(hello *tls.ClientHelloInfo) (cert *tls.Certificate, ok bool) {
	if !tlsalpn01.IsChallengeHello(hello) {
		return nil, false
	}
	sni := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if sni == "" || store.ValidateKey(sni) != nil {
		return nil, false
	}
	ctx := hello.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	v, ok := s.lookup(ctx, tlsALPN01Dir+sni)
	if !ok {
		return nil, false
	}
	var rec tlsALPNRecord
	if err := json.Unmarshal(v, &rec); err != nil || rec.KeyAuthorization == "" {
		return nil, false
	}
	s.mu.Lock()
	c := s.certs[rec.KeyAuthorization]
	s.mu.Unlock()
	if c != nil {
		return c, true
	}
	made, err := challenge.TLSALPN01Certificate(acme.Identifier{Type: rec.Type, Value: rec.Value}, rec.KeyAuthorization)
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	if s.certs == nil || len(s.certs) > 256 {
		s.certs = map[string]*tls.Certificate{}
	}
	s.certs[rec.KeyAuthorization] = &made
	s.mu.Unlock()
	return &made, true
}
