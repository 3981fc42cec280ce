package autotls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"
)

// ShutdownTimeout bounds the graceful shutdown of ListenAndServe's servers
// once its context is done.
const ShutdownTimeout = 5 * time.Second

// ListenAndServe serves handler over HTTPS on cfg.HTTPSAddr and
// cfg.HTTPHandler(nil) (http-01 and the redirect to HTTPS) on
// cfg.HTTPAddr, hands cfg.Names to the Manager and runs the Manager, until
// ctx is done; then it shuts the servers down gracefully and returns nil.
// It returns early with the first error of a listener, a server or the
// Manager. Do not also call cfg.Manager.Run elsewhere.
func ListenAndServe(ctx context.Context, cfg *Config, handler http.Handler) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	httpsAddr := cfg.HTTPSAddr
	if httpsAddr == "" {
		httpsAddr = ":443"
	}
	var lc net.ListenConfig
	tlsLn, err := lc.Listen(ctx, "tcp", httpsAddr)
	if err != nil {
		return &ListenError{Setting: "HTTPSAddr", Addr: httpsAddr, Err: err}
	}
	var httpLn net.Listener
	if cfg.HTTPAddr != "-" {
		addr := cfg.HTTPAddr
		if addr == "" {
			addr = ":80"
		}
		if httpLn, err = lc.Listen(ctx, "tcp", addr); err != nil {
			tlsLn.Close()
			return &ListenError{Setting: "HTTPAddr", Addr: addr, Err: err}
		}
	}
	return Serve(ctx, cfg, handler, tlsLn, httpLn)
}

// ListenError is ListenAndServe's error when a listener cannot be bound
// (the address is in use, or not allowed): Setting names the Config
// field, "HTTPSAddr" or "HTTPAddr", Addr the address tried, Err the
// listen error (errors.Is(err, syscall.EADDRINUSE) for a port in use).
// Nothing is left bound.
type ListenError struct {
	Setting string
	Addr    string
	Err     error
}

func (e *ListenError) Error() string {
	return "autotls: " + e.Message(e.Setting) + ": " + e.Err.Error()
}

// Message is Error without the package and the listen error's text, with
// the setting called name (a program's flag, "-tls-listen"): "NAME: ADDR
// is already in use (another program serves this port: stop it, or give
// NAME another address)"; a port the process may not bind or any other
// failure is worded as such.
func (e *ListenError) Message(name string) string {
	switch {
	case errors.Is(e.Err, syscall.EADDRINUSE):
		return fmt.Sprintf("%s: %s is already in use (another program serves this port: stop it, or give %s another address)", name, e.Addr, name)
	case errors.Is(e.Err, syscall.EACCES):
		return fmt.Sprintf("%s: no permission to listen on %s (ports below 1024 need CAP_NET_BIND_SERVICE)", name, e.Addr)
	}
	return fmt.Sprintf("%s: cannot listen on %s", name, e.Addr)
}

func (e *ListenError) Unwrap() error { return e.Err }

// Serve is ListenAndServe on listeners of the caller's: TLS on tlsLn (a
// plain TCP listener) and, if httpLn is not nil, plain HTTP on httpLn. It
// closes both before returning.
//
// The HTTPS server answers 421 for a host it does not serve (HostGuard),
// bounds request bodies (MaxBodyBytes) and the time to read a request
// (ReadTimeout, 20 s for the headers), and speaks TLS 1.2 (CipherSuites)
// and 1.3 only.
func Serve(ctx context.Context, cfg *Config, handler http.Handler, tlsLn, httpLn net.Listener) error {
	if err := cfg.Manage(ctx); err != nil {
		tlsLn.Close()
		if httpLn != nil {
			httpLn.Close()
		}
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	plain := "-"
	if httpLn != nil {
		plain = httpLn.Addr().String()
	}
	// Said once the listeners are bound: a port in use fails before.
	log.InfoContext(ctx, "serving HTTPS", "names", cfg.Names, "https", tlsLn.Addr().String(), "http", plain)
	maxBody := cfg.MaxBodyBytes
	if maxBody == 0 {
		maxBody = DefaultMaxBodyBytes
	}
	readTimeout := cfg.ReadTimeout
	if readTimeout == 0 {
		readTimeout = DefaultReadTimeout
	} else if readTimeout < 0 {
		readTimeout = 0
	}
	base := func(net.Listener) context.Context { return ctx }
	tlsSrv := &http.Server{
		Handler:           cfg.HostGuard(limitBody(maxBody, handler)),
		TLSConfig:         cfg.TLSConfig(),
		ReadHeaderTimeout: 20 * time.Second,
		ReadTimeout:       readTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       base,
		ErrorLog:          errLog,
	}
	servers := []*http.Server{tlsSrv}
	errc := make(chan error, 3)
	go func() { errc <- tlsSrv.ServeTLS(tlsLn, "", "") }()
	if httpLn != nil {
		hs := &http.Server{
			Handler:           cfg.HTTPHandler(nil),
			ReadHeaderTimeout: 20 * time.Second,
			ReadTimeout:       readTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			IdleTimeout:       time.Minute,
			BaseContext:       base,
			ErrorLog:          errLog,
		}
		servers = append(servers, hs)
		go func() { errc <- hs.Serve(httpLn) }()
	}
	runCtx, stopManager := context.WithCancel(ctx)
	managerDone := make(chan error, 1)
	go func() { managerDone <- cfg.Manager.Run(runCtx) }()

	var err error
	managerStopped := false
	select {
	case <-ctx.Done():
	case err = <-errc:
	case err = <-managerDone:
		managerStopped = true
		if err == nil {
			err = errors.New("autotls: the manager stopped")
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if serr := s.Shutdown(sctx); serr != nil {
			s.Close()
		}
	}
	stopManager()
	if !managerStopped {
		select {
		case <-managerDone:
		case <-sctx.Done():
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
