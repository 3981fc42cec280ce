package http01

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/solver/internal/server"
)

// Standalone solves http-01 with its own HTTP server, started by the
// first Present and stopped when the last presented challenge is cleaned
// up, so that port 80 is held only while the CA validates (or from
// Listen to Close). Concurrent
// challenges share one server. Use it where nothing else listens on the
// port. The zero value listens on ":80"; a Standalone must not be copied
// after first use. It is safe for concurrent use.
type Standalone struct {
	// Addr is the TCP address to listen on: ":80" if empty. "host:port"
	// forms such as "127.0.0.1:5002" and "[::1]:5002" bind that address
	// only. It must not change after first use.
	Addr string
	// Logger receives errors of the background server. Nil discards
	// them; either way the first such error is also returned by the
	// CleanUp that stops the server.
	Logger *slog.Logger

	handler Handler

	refs server.Refs // its lock guards run
	run  *run        // nil while stopped
}

// run is one start-to-stop life of the server.
type run struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve has returned
	err  error         // Serve's failure, readable once done is closed
}

var _ challenge.Solver = (*Standalone)(nil)

// Present records the response and starts the server if it is not
// running. If the address is in use it says so.
func (s *Standalone) Present(ctx context.Context, chal acme.Challenge) error {
	if err := s.handler.Present(ctx, chal); err != nil {
		return err
	}
	if err := s.refs.Acquire(func() error { return s.start(ctx) }); err != nil {
		_ = s.handler.CleanUp(ctx, chal)
		return err
	}
	return nil
}

// CleanUp forgets the response and, after the last presented challenge,
// shuts the server down (waiting for requests in flight until ctx is
// done) and frees the port. A challenge that is not presented (never, or
// cleaned up already) changes nothing: it must not stop the server while
// others still need it.
func (s *Standalone) CleanUp(ctx context.Context, chal acme.Challenge) error {
	return s.refs.Release(func() bool { return s.handler.release(chal.Token) }, func() error { return s.stop(ctx) })
}

// Listen binds the address now and keeps the server running until Close,
// whatever challenges come and go, so that nothing else can take the port
// between a check before an order and the challenges of that order. A
// second Listen before Close changes nothing. Without Listen the server
// runs only while challenges are presented.
func (s *Standalone) Listen(ctx context.Context) error {
	return s.refs.Hold(func() error { return s.start(ctx) })
}

// Close undoes Listen: the server stops, and the port is freed, unless
// challenges are still presented (then the last CleanUp stops it). It
// waits up to closeTimeout for requests in flight. Without Listen, or
// called again, it does nothing.
func (s *Standalone) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	return s.refs.Unhold(func() error { return s.stop(ctx) })
}

// closeTimeout bounds how long Close waits for requests in flight.
const closeTimeout = 5 * time.Second

// ListenAddr returns the address the server listens on while it runs,
// nil otherwise. With a port of 0 in Addr it tells which port was chosen.
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
		return ":80"
	}
	return s.Addr
}

func (s *Standalone) start(ctx context.Context) error {
	ln, err := server.Listen(ctx, s.addr(), "http01 standalone", server.HTTPBusyAdvice)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           &s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	if s.Logger != nil {
		srv.ErrorLog = slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)
	}
	r := &run{srv: srv, ln: ln, done: make(chan struct{})}
	s.run = r
	logger := s.Logger
	go func() {
		defer close(r.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			if logger != nil {
				logger.Error("http01 standalone server stopped", "addr", ln.Addr().String(), "err", err)
			}
			r.err = err
		}
	}()
	return nil
}

// stop is called with s.refs locked.
func (s *Standalone) stop(ctx context.Context) error {
	r := s.run
	s.run = nil
	err := r.srv.Shutdown(ctx)
	if err != nil {
		_ = r.srv.Close()
	}
	<-r.done
	if r.err != nil {
		return fmt.Errorf("http01 standalone: server on %s failed: %w", s.addr(), r.err)
	}
	if err != nil {
		return fmt.Errorf("http01 standalone: shutdown: %w", err)
	}
	return nil
}
