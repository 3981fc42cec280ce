// Command certkeeper obtains, renews, revokes and lists TLS certificates
// through ACME (RFC 8555). Run "certkeeper help" for the commands and
// docs/cli.md for the full reference, including exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/certkeeper/certkeeper/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{
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
