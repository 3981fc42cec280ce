// Package solverset describes challenge solvers as data and builds them.
//
// A Config is the one solver configuration schema of certkeeper: the
// command line's flags fill one in, the daemon's TOML file holds one (the
// [solvers] tables), and a certificate's lineage record keeps one (as
// JSON) so that renewals answer challenges exactly as the first order did.
// Secrets are never part of a Config: settings that need one name the file
// or the environment variable that holds it, and Build reads it through
// Env.
package solverset

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// Config says how challenges are answered. Nil tables are not configured.
type Config struct {
	HTTP01    *HTTP01    `json:"http01,omitempty" toml:"http01"`
	TLSALPN01 *TLSALPN01 `json:"tlsalpn01,omitempty" toml:"tlsalpn01"`
	DNS01     *DNS01     `json:"dns01,omitempty" toml:"dns01"`
}

// HTTP01 answers http-01 (RFC 8555 §8.3) with a built-in server on Listen
// or files under Webroot; exactly one of them.
type HTTP01 struct {
	Listen  string `json:"listen,omitempty" toml:"listen"`
	Webroot string `json:"webroot,omitempty" toml:"webroot"`
}

// TLSALPN01 answers tls-alpn-01 (RFC 8737) with a built-in TLS server.
type TLSALPN01 struct {
	Listen string `json:"listen,omitempty" toml:"listen"`
}

// DNS01 answers the DNS challenges (dns-01, dns-account-01,
// dns-persist-01) through a provider, and checks propagation.
type DNS01 struct {
	// Provider is "rfc2136", "exec", "webhook", "acme-dns", or "hook"
	// (Hook: "CMD present|cleanup RECORD-NAME VALUE").
	Provider string `json:"provider,omitempty" toml:"provider"`
	// Hook is the command of the "hook" provider.
	Hook string `json:"hook,omitempty" toml:"hook"`
	// Delay is waited after presenting, before the first propagation
	// check.
	Delay Duration `json:"delay,omitempty" toml:"delay"`

	// TODO(solverset): rfc2136, exec, webhook, acme-dns and propagation
	// settings.
}

// Duration is a time.Duration written as a string such as "90s".
type Duration time.Duration

// Env is what Build takes from the program: the library reads no
// environment variable itself.
type Env struct {
	// Getenv reads the variables that settings name for secrets.
	Getenv func(string) string
	// Output receives the output of hook commands.
	Output io.Writer
	Logger *slog.Logger
}

// Set is a Config built into solvers.
type Set struct {
	// Solvers by challenge type, for issue.Issuer.
	Solvers map[acme.ChallengeType]challenge.Solver
	// Preference is the order of challenge types to try.
	Preference []acme.ChallengeType
}

// Build makes the solvers cfg describes. challenges, if not empty, are
// the challenge types allowed in order of preference; each must be
// configured.
func Build(cfg Config, challenges []string, env Env) (*Set, error) {
	panic("TODO")
}

// Prepare checks, before any order is placed, everything that can be
// checked locally, and reports every problem at once.
func (s *Set) Prepare(ctx context.Context) error { panic("TODO") }

// Close releases what Prepare holds.
func (s *Set) Close() error { panic("TODO") }
