// Package cli implements the certkeeper command line. It is internal so
// that the command's flags can evolve without a library API promise; the
// only caller is cmd/certkeeper, which hands it the process environment.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
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
	// Getenv reads the environment; only CERTKEEPER_* variables are used.
	Getenv func(string) string
	// Stores opens the daemon's store for a store.backend other than
	// "dir", by backend name ("etcd"). The core binary has none; the
	// binary of store/etcdstore/cmd/certkeeper adds "etcd".
	Stores map[string]StoreOpener
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env Env, args []string) error
}

func commands() []command {
	return []command{
		{"obtain", "obtain a certificate for one or more names", runObtain},
		{"renew", "renew every stored certificate that is due", runRenew},
		{"revoke", "revoke a certificate", runRevoke},
		{"account", "register, show, update, deactivate or roll over an account", runAccount},
		{"list", "list stored certificates", runList},
		{"doctor", "check names, DNS, CAA and ports before ordering", runDoctor},
		{"run", "run the daemon: keep the certificates of a config file valid", runDaemon},
		{"serve", "serve HTTPS (reverse proxy or files) with automatic certificates", runServe},
	}
}

// Main runs the command line args (without the program name) and returns
// the process exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, env, args[1:])
			if err == nil {
				return ExitOK
			}
			if errors.Is(err, flag.ErrHelp) {
				return ExitOK
			}
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				fmt.Fprintf(env.Stderr, "certkeeper %s: interrupted; what was under way was cleaned up\n", c.name)
				return ExitInterrupted
			}
			fmt.Fprintf(env.Stderr, "certkeeper %s: %v\n", c.name, err)
			return exitCode(err)
		}
	}
	fmt.Fprintf(env.Stderr, "certkeeper: unknown command %q\n", args[0])
	usage(env.Stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: certkeeper <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"certkeeper <command> -h\" for a command's flags.")
}

// usageError marks errors in the command line itself.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// partialError marks a renew pass in which some certificates failed.
type partialError struct{ failed, total int }

func (e partialError) Error() string {
	return fmt.Sprintf("%d of %d certificates failed to renew", e.failed, e.total)
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
