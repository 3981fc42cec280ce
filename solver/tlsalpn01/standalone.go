package tlsalpn01

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/solver/internal/server"
)

// handshakeTimeout bounds one validation connection.
const handshakeTimeout = 10 * time.Second

// Standalone solves tls-alpn-01 with its own TLS listener, started by
// the first Present and stopped when the last presented challenge is
// cleaned up (or from Listen to Close). It completes only acme-tls/1 handshakes for presented
// names, refusing every other handshake, and closes each connection once
// the handshake is done. The zero value listens on ":443"; a Standalone
// must not be copied after first use. It is safe for concurrent use.
type Standalone struct {
	// Addr is the TCP address to listen on: ":443" if empty.
	// "127.0.0.1:5001" and "[::1]:5001" forms bind that address only.
	// It must not change after first use.
	Addr string
	// Logger receives failures of the accept loop. Nil discards them;
	// either way the first such failure is returned by the CleanUp that
	// stops the listener.
	Logger *slog.Logger

	certs Responder

	refs server.Refs // its lock guards run
	run  *run        // nil while stopped
}

type run struct {
	ln    net.Listener
	conns sync.WaitGroup
	done  chan struct{} // closed when the accept loop has returned
	err   error         // the accept loop's failure, readable once done is closed
}

var _ challenge.Solver = (*Standalone)(nil)

// Present adds the validation certificate and starts the listener if it
// is not running. If the address is in use it says so.
func (s *Standalone) Present(ctx context.Context, chal acme.Challenge) error {
	if err := s.certs.Present(ctx, chal); err != nil {
		return err
	}
	if err := s.refs.Acquire(func() error { return s.start(ctx) }); err != nil {
		_ = s.certs.CleanUp(ctx, chal)
		return err
	}
	return nil
}

// CleanUp removes the certificate and, after the last presented
// challenge, closes the listener and waits, until ctx is done, for
// handshakes in flight. A challenge that is not presented (never, or
// cleaned up already) changes nothing: it must not close the listener
// while others still need it.
func (s *Standalone) CleanUp(ctx context.Context, chal acme.Challenge) error {
	return s.refs.Release(func() bool { return s.certs.release(chal) }, func() error { return s.stop(ctx) })
}

// stop closes the listener and waits, until ctx is done, for handshakes
// in flight. It is called with s.refs locked.
func (s *Standalone) stop(ctx context.Context) error {
	r := s.run
	s.run = nil
	_ = r.ln.Close()
	<-r.done
	// Handshakes in flight end by their own timeout; wait for them
	// unless ctx says not to.
	idle := make(chan struct{})
	go func() { r.conns.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-ctx.Done():
	}
	if r.err != nil {
		return fmt.Errorf("tlsalpn01 standalone: listener on %s failed: %w", s.addr(), r.err)
	}
	return nil
}

// Listen binds the address now and keeps the listener open until Close,
// whatever challenges come and go, so that nothing else can take the port
// between a check before an order and the challenges of that order. A
// second Listen before Close changes nothing. Without Listen the listener
// is open only while challenges are presented.
func (s *Standalone) Listen(ctx context.Context) error {
	return s.refs.Hold(func() error { return s.start(ctx) })
}

// Close undoes Listen: the listener closes, and the port is freed, unless
// challenges are still presented (then the last CleanUp closes it). It
// waits up to handshakeTimeout for handshakes in flight. Without Listen,
// or called again, it does nothing.
func (s *Standalone) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	return s.refs.Unhold(func() error { return s.stop(ctx) })
}

// ListenAddr returns the address the listener is bound to while it
// runs, nil otherwise.
func (s *Standalone) ListenAddr() net.Addr {
	var a net.Addr
	s.refs.Locked(func() {
		if s.run != nil {
			a = s.run.ln.Addr()
		}
	})
	return a
}

func (s *Standalone) addr() string {
	if s.Addr == "" {
		return ":443"
	}
	return s.Addr
}

func (s *Standalone) start(ctx context.Context) error {
	ln, err := server.Listen(ctx, s.addr(), "tlsalpn01 standalone", server.TLSBusyAdvice)
	if err != nil {
		return err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// crypto/tls refuses a client that offers ALPN protocols but not
		// this one; GetCertificate refuses one that offers none.
		NextProtos: []string{challenge.ALPNProto},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if !IsChallengeHello(hello) {
				return nil, errors.New("tlsalpn01: only acme-tls/1 handshakes are served")
			}
			if cert, ok := s.certs.GetCertificate(hello); ok {
				return cert, nil
			}
			return nil, fmt.Errorf("tlsalpn01: no challenge presented for %q", hello.ServerName)
		},
	}
	r := &run{ln: ln, done: make(chan struct{})}
	s.run = r
	logger := s.Logger
	go func() {
		defer close(r.done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				if logger != nil {
					logger.Error("tlsalpn01 standalone listener stopped", "addr", ln.Addr().String(), "err", err)
				}
				r.err = err
				return
			}
			r.conns.Add(1)
			go func() {
				defer r.conns.Done()
				defer conn.Close()
				ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
				defer cancel()
				// The CA only needs the handshake; a failed one is a
				// refused non-validation client, not worth a log line.
				_ = tls.Server(conn, cfg).HandshakeContext(ctx)
			}()
		}
	}()
	return nil
}
