// Package command runs the certkeeper command (docs/cli.md) inside a Go
// program: the same code as the certkeeper binary, with the process's
// streams and environment given as values. It is how examples/quickstart
// runs "certkeeper obtain" against a local Pebble, and how a test drives
// the command without building it.
package command

import (
	"context"
	"io"
	"slices"

	"github.com/certkeeper/certkeeper/cmd/certkeeper/internal/cli"
	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/etcdstore"
)

// Exit codes of Main, as documented in docs/cli.md.
const (
	ExitOK          = cli.ExitOK
	ExitError       = cli.ExitError
	ExitUsage       = cli.ExitUsage
	ExitRefused     = cli.ExitRefused
	ExitRateLimited = cli.ExitRateLimited
	ExitValidation  = cli.ExitValidation
	ExitPartial     = cli.ExitPartial
	ExitInterrupted = cli.ExitInterrupted
)

// Env is what the command takes from its process. The zero value is
// valid: output is discarded, nothing is read from stdin and no
// environment variable is set.
type Env struct {
	// Stdout and Stderr receive the command's output; nil discards it.
	Stdout, Stderr io.Writer
	// Stdin is where a command reads an answer (account deactivate's
	// confirmation); StdinTerminal says that it is a terminal, without
	// which nothing is asked (-yes is needed instead).
	Stdin         io.Reader
	StdinTerminal bool
	// StderrTerminal says that Stderr is a terminal: progress is then one
	// line rewritten in place; TerminalWidth gives its width in columns
	// (0 or nil: unknown).
	StderrTerminal bool
	TerminalWidth  func() int
	// Getenv reads the environment (only CERTKEEPER_* variables are
	// used); nil means an empty environment, never the process's.
	Getenv func(string) string
	// Environ returns the environment of the programs the command runs
	// (deploy hooks, the exec DNS provider), "NAME=value" entries as
	// os.Environ; they get it less its secrets (docs/security.md). Nil
	// means an empty environment, never the process's.
	Environ func() []string
	// Backends are store backends added to the binary's own (Backends()),
	// for a program that builds its own certkeeper: the daemon's
	// store.backend may name any of them. One with the name of a built-in
	// backend replaces it.
	Backends []store.Backend
}

// Backends returns the store backends of the certkeeper binary besides
// "dir": etcd (etcdstore.Backend, docs/cluster.md).
func Backends() []store.Backend {
	return []store.Backend{etcdstore.Backend{}}
}

// Main runs the command line args (without the program name, as
// os.Args[1:]) with every store backend of the certkeeper binary and
// env.Backends, and returns its exit code. ctx stops it as SIGINT would (exit code
// ExitInterrupted).
func Main(ctx context.Context, args []string, env Env) int {
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Environ == nil {
		env.Environ = func() []string { return []string{} }
	}
	return cli.Main(ctx, args, cli.Env{
		Stdout:         env.Stdout,
		Stderr:         env.Stderr,
		Stdin:          env.Stdin,
		StdinTerminal:  env.StdinTerminal,
		StderrTerminal: env.StderrTerminal,
		TerminalWidth:  env.TerminalWidth,
		Getenv:         env.Getenv,
		Environ:        env.Environ,
		// The first backend of a name is used: env.Backends come first.
		Backends: slices.Concat(env.Backends, Backends()),
	})
}
