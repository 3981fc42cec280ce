// Package cli implements the certkeeper command line. It is internal so
// that the command's flags can evolve without a library API promise; the
// only caller is cmd/certkeeper, which hands it the process environment.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/exechook"
	"github.com/certkeeper/certkeeper/store"
)

// Exit codes, documented in docs/cli.md.
const (
	ExitOK          = 0 // success
	ExitError       = 1 // any other failure
	ExitUsage       = 2 // bad flags or arguments
	ExitRefused     = 3 // the CA refused the request (unauthorized, rejected identifier, CAA, bad CSR...)
	ExitRateLimited = 4 // the CA rate-limited the request; retry after the time printed
	ExitValidation  = 5 // a challenge could not be presented or validated
	ExitPartial     = 6 // renew: some certificates were renewed, some failed
	// ExitInterrupted: stopped by SIGINT or SIGTERM, after the order in
	// flight was wound down (challenges cleaned up, locks released).
	ExitInterrupted = 130
)

// Env is what the command takes from its process.
type Env struct {
	Stdout, Stderr io.Writer
	// Stdin is where a command reads an answer (account deactivate's
	// confirmation); StdinTerminal says that it is a terminal, without
	// which nothing is asked (-yes is needed instead).
	Stdin         io.Reader
	StdinTerminal bool
	// StderrTerminal says that Stderr is a terminal: obtain, renew and
	// revoke then show their progress as one status line rewritten in
	// place (a spinner), instead of a line per step. TerminalWidth, if
	// set, is its width in columns (0 if unknown).
	StderrTerminal bool
	TerminalWidth  func() int

	// cleanups, set by Main, tracks the challenge clean-ups under way;
	// live is the terminal's status line (StderrTerminal).
	cleanups *cleanups
	live     *liveLine
	// Getenv reads the environment; only CERTKEEPER_* variables are used.
	Getenv func(string) string
	// Environ is the environment of the programs the command runs (deploy
	// hooks through manager/exechook, the exec DNS provider), which get it
	// less its secrets. Nil means this process's (os.Environ): this package
	// is the command, the one place that reads it.
	Environ func() []string
	// Backends are the store backends other than "dir" that the daemon's
	// store-backend may name, each configured by its own [NAME]
	// table. The certkeeper binary has every backend (etcd).
	Backends []store.Backend
}

// environ is the environment of the programs the command runs (see
// Env.Environ).
func (e Env) environ() []string {
	if e.Environ == nil {
		return os.Environ()
	}
	return e.Environ()
}

// hookRunner runs deploy hooks as programs with env's environment, less
// its secrets.
func hookRunner(env Env) manager.HookRunner {
	r := exechook.New(env.environ())
	if env.cleanups == nil {
		return r
	}
	r.Abort = env.cleanups.abort
	return trackedHooks{r: r, c: env.cleanups}
}

// usageError marks errors in the command line itself.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// partialError marks a renew pass in which some certificates failed, or
// were renewed and stored but a deploy hook failed (hooks).
type partialError struct{ failed, hooks, total int }

func (e partialError) Error() string {
	switch {
	case e.failed == 0:
		return fmt.Sprintf("%d of %d certificates renewed and stored, but a deploy hook failed", e.hooks, e.total)
	case e.hooks == 0:
		return fmt.Sprintf("%d of %d certificates failed to renew", e.failed, e.total)
	}
	return fmt.Sprintf("%d of %d certificates failed to renew; %d more renewed and stored, but a deploy hook failed", e.failed, e.total, e.hooks)
}

func exitCode(err error) int {
	var ue usageError
	var pe partialError
	var p *acme.Problem
	var nse *issue.NoSolverError
	switch {
	case errors.As(err, &ue), errors.As(err, &nse), errors.Is(err, issue.ErrInvalidIdentifier), localIsUsage(err):
		return ExitUsage
	case errors.As(err, &pe):
		return ExitPartial
	case acme.IsRateLimited(err):
		return ExitRateLimited
	case isValidationFailure(err):
		return ExitValidation
	case errors.As(err, &p) && p.Status >= 400 && p.Status < 500:
		return ExitRefused
	}
	return ExitError
}

// isValidationFailure reports whether err is about a challenge: a solver
// failing or the CA failing to validate.
func isValidationFailure(err error) bool {
	var oe *acme.OrderError
	if errors.As(err, &oe) {
		return true
	}
	var p *acme.Problem
	if errors.As(err, &p) {
		switch p.Type {
		case acme.ProblemIncorrectResponse, acme.ProblemConnection, acme.ProblemDNS, acme.ProblemTLS:
			return true
		}
	}
	var se *issue.SolverError
	return errors.As(err, &se)
}

// resolveCA turns -ca into a directory URL through the library's one
// alias table (acme.ResolveDirectory); "" means Let's Encrypt staging.
func resolveCA(s string) (string, error) {
	if s == "" {
		s = "letsencrypt-staging"
	}
	u, err := acme.ResolveDirectory(s)
	if err != nil {
		return "", usageError{strings.TrimPrefix(err.Error(), "acme: ")}
	}
	return u, nil
}
