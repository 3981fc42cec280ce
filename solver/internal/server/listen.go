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

// ListenError is Listen's error: Who could not listen on Addr. A front
// end that names the setting itself (solverset) words it from Addr and
// Err instead of Error's text, which names the solver.
type ListenError struct {
	// Who names the solver: "http01 standalone".
	Who string
	// Addr is the address asked for, host:port.
	Addr string
	// Advice says what to do when the port is in use.
	Advice string
	// Err is the listener's error: errors.Is(Err, syscall.EADDRINUSE)
	// for a port in use, syscall.EACCES for one the process may not
	// bind.
	Err error
}

// Error says who could not listen where, why, and what to do.
func (e *ListenError) Error() string {
	switch {
	case errors.Is(e.Err, syscall.EADDRINUSE):
		return fmt.Sprintf("%s: %s is already in use (%s): %v", e.Who, e.Addr, e.Advice, e.Err)
	case errors.Is(e.Err, syscall.EACCES):
		return fmt.Sprintf("%s: no permission to listen on %s (ports below 1024 need CAP_NET_BIND_SERVICE): %v", e.Who, e.Addr, e.Err)
	}
	return fmt.Sprintf("%s: listen on %s: %v", e.Who, e.Addr, e.Err)
}

// Unwrap returns Err.
func (e *ListenError) Unwrap() error { return e.Err }

// Listen opens a TCP listener on addr. who names the solver in errors
// ("http01 standalone"); alternative says what to do instead when the
// port is taken (HTTPBusyAdvice, TLSBusyAdvice). Its error is a
// *ListenError.
func Listen(ctx context.Context, addr, who, alternative string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, &ListenError{Who: who, Addr: addr, Advice: alternative, Err: err}
	}
	return ln, nil
}
