//go:build !ckmem_https

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
)

// responder answers http-01 for the tokens presented.
type responder struct {
	mu     sync.Mutex
	tokens map[string]string
}

func (s *responder) Present(_ context.Context, c acme.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[c.Token] = c.KeyAuthorization
	return nil
}

func (s *responder) CleanUp(_ context.Context, c acme.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, c.Token)
	return nil
}

func (s *responder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ka, ok := s.tokens[strings.TrimPrefix(r.URL.Path, "/.well-known/acme-challenge/")]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	_, _ = io.WriteString(w, ka)
}

// obtain registers an account and obtains one certificate for name.
func obtain(hc *http.Client, dir, port, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := &responder{tokens: map[string]string{}}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c := &acme.Client{DirectoryURL: dir, HTTPClient: hc}
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		return err
	}
	acct, err := c.NewAccount(ctx, acme.Account{Key: key, TermsOfServiceAgreed: true})
	if err != nil {
		return err
	}
	ids, err := issue.ParseIdentifiers(name)
	if err != nil {
		return err
	}
	is := &issue.Issuer{Client: c, Account: acct, Solvers: map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: s}}
	_, err = is.Obtain(ctx, issue.Request{Identifiers: ids})
	return err
}
