// Command certkeeper obtains, renews, revokes and lists TLS certificates
// through ACME (RFC 8555). Run "certkeeper help" for the commands and
// docs/cli.md for the full reference, including exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/certkeeper/certkeeper/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Getenv: os.Getenv,
		Stdin:  os.Stdin,
		// A terminal to ask on.
		StdinTerminal: term.IsTerminal(int(os.Stdin.Fd())),
		// A terminal to show progress on, as one line rewritten in place.
		StderrTerminal: term.IsTerminal(int(os.Stderr.Fd())),
		TerminalWidth: func() int {
			w, _, err := term.GetSize(int(os.Stderr.Fd()))
			if err != nil {
				return 0
			}
			return w
		},
	})
	stop()
	os.Exit(code)
}
