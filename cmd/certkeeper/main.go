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
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/certkeeper/certkeeper/cmd/certkeeper/command"
)

// duplicateSignal is how soon after the first interrupt a second one is
// taken for the same interrupt delivered twice, and ignored.
const duplicateSignal = 200 * time.Millisecond

func main() {
	// The first interrupt cancels the command, which cleans up (for a few
	// seconds at most: command.Main); a second one exits at once.
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		// One interrupt delivered twice is one: GNU timeout signals the
		// command and then its process group, so "timeout -s INT" gives
		// two signals within microseconds. A person's second Ctrl-C
		// comes later than duplicateSignal.
		quiet := time.Now().Add(duplicateSignal)
		for {
			<-sigs
			if time.Now().After(quiet) {
				break
			}
		}
		fmt.Fprintln(os.Stderr, "certkeeper: interrupted again: exiting at once, without cleaning up")
		os.Exit(command.ExitInterrupted)
	}()
	code := command.Main(ctx, os.Args[1:], command.Env{
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Getenv: os.Getenv,
		// Hooks and the exec DNS provider get it, less its secrets.
		Environ: os.Environ,
		Stdin:   os.Stdin,
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
	signal.Stop(sigs)
	cancel()
	os.Exit(code)
}
