// Package bench compares the wall time and the number of ACME requests per
// certificate of three Go ACME clients doing the same work against one
// local Pebble: certkeeper (package issue), golang.org/x/crypto/acme and
// github.com/mholt/acmez/v3.
//
// It is a nested module so that the two other clients stay out of the
// certkeeper module's dependency graph. Run it with
//
//	cd bench && go test -run '^$' -bench . -benchtime 20x
//
// or print a markdown table with
//
//	cd bench && go run ./cmd/ckbench
package bench

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Env is one running Pebble plus the http-01 responder all clients share.
type Env struct {
	// Pebble is the Pebble this process started (an *acmetest.Pebble);
	// nil in an Env from AttachEnv (a child process of ckbench).
	Pebble PebbleProcess
	// DirectoryURL is Pebble's ACME directory.
	DirectoryURL string
	// HTTPPort is where Pebble validates http-01 (the responder's port).
	HTTPPort int
	// TLSRootPEM signs Pebble's HTTPS certificate.
	TLSRootPEM []byte
	// Challenges serves http-01 responses on 127.0.0.1:Pebble.HTTPPort.
	Challenges *ChallengeHandler
	// NonceRejectPercent is the share of nonces Pebble rejects.
	NonceRejectPercent int

	srv *http.Server
}

// PebbleProcess is what an Env needs of the Pebble it started: the
// methods of *acmetest.Pebble it uses. An interface, so that a ckbench
// child, which only attaches, links no acmetest (nor, through it, the
// testing package and a DNS server).
type PebbleProcess interface {
	// Close stops Pebble.
	Close() error
	// Output is the tail of Pebble's log.
	Output() string
}

// AttachEnv returns an Env for a Pebble another process started (whose
// Env has NoResponder), and serves http-01 on its port.
func AttachEnv(directoryURL string, httpPort int, tlsRootPEM []byte, nonceReject int) (*Env, error) {
	e := &Env{DirectoryURL: directoryURL, HTTPPort: httpPort, TLSRootPEM: tlsRootPEM,
		NonceRejectPercent: nonceReject, Challenges: &ChallengeHandler{}}
	if err := e.listen(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Env) listen() error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(e.HTTPPort)))
	if err != nil {
		return fmt.Errorf("bench: listen for http-01: %w", err)
	}
	e.srv = &http.Server{Handler: e.Challenges, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	return nil
}

// Close stops the responder and Pebble (if this Env started them).
func (e *Env) Close() error {
	var errs []error
	if e.srv != nil {
		errs = append(errs, e.srv.Close())
	}
	if e.Pebble != nil {
		errs = append(errs, e.Pebble.Close())
	}
	return errors.Join(errs...)
}

// HTTPClient returns a new HTTP client (with its own connection pool) that
// trusts Pebble and counts its requests in c.
func (e *Env) HTTPClient(c *Counter) *http.Client {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(e.TLSRootPEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	tr.Proxy = nil
	c.Base = tr
	return &http.Client{Transport: c, Timeout: time.Minute}
}

const http01Prefix = "/.well-known/acme-challenge/"

// ChallengeHandler is a concurrency-safe, map-backed http-01 responder
// (RFC 8555 §8.3), shared by the three clients' solvers.
type ChallengeHandler struct {
	mu     sync.RWMutex
	tokens map[string]string // token -> key authorization
}

// Put serves keyAuth for token.
func (h *ChallengeHandler) Put(token, keyAuth string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tokens == nil {
		h.tokens = make(map[string]string)
	}
	h.tokens[token] = keyAuth
}

// Delete stops serving token.
func (h *ChallengeHandler) Delete(token string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.tokens, token)
}

// Len is the number of tokens served (a leak check).
func (h *ChallengeHandler) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.tokens)
}

// ServeHTTP implements http.Handler.
func (h *ChallengeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.URL.Path, http01Prefix)
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	h.mu.RLock()
	ka, ok := h.tokens[token]
	h.mu.RUnlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(ka))
}
