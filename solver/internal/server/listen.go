// Package server holds what the standalone solvers share: opening their
// listener with errors that say what to do.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Advice for a port already in use, in terms that suit every front end
// (the command line, the daemon's configuration, a Go program): what to
// do, not which type or field to use.
const (
	HTTPBusyAdvice = "another program serves this port: answer http-01 from its document root (webroot) or stop it"
	TLSBusyAdvice  = "another program serves this port: have it answer tls-alpn-01, stop it, or validate by http-01 or dns-01 instead"
)

// Listen opens a TCP listener on addr. who names the solver in errors
// ("http01 standalone"); alternative says what to do instead when the
// port is taken (HTTPBusyAdvice, TLSBusyAdvice).
func Listen(ctx context.Context, addr, who, alternative string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	switch {
	case err == nil:
		return ln, nil
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("%s: %s is already in use (%s): %w", who, addr, alternative, err)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("%s: no permission to listen on %s (ports below 1024 need CAP_NET_BIND_SERVICE): %w", who, addr, err)
	}
	return nil, fmt.Errorf("%s: listen on %s: %w", who, addr, err)
}
