// Command certkeeper obtains, renews, revokes and lists TLS certificates
// through ACME (RFC 8555). Run "certkeeper help" for the commands and
// docs/cli.md for the full reference, including exit codes.
//
// It is a module of its own, so that its dependencies (a TOML parser, a
// CLI library, the Prometheus and etcd clients) stay out of the graph of
// programs that import the library:
//
//	go install github.com/certkeeper/certkeeper/cmd/certkeeper@latest
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/certkeeper/certkeeper/cmd/certkeeper/command"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := command.Main(ctx, os.Args[1:], command.Env{
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Getenv: os.Getenv,
		Stdin:  os.Stdin,
		// A character device: a terminal to ask on.
		StdinTerminal: isTerminal(os.Stdin),
	})
	stop()
	os.Exit(code)
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
