// Package solverset describes challenge solvers as data and builds them.
//
// A Config is the one solver configuration schema of certkeeper: the
// command line's flags fill one in, the daemon's TOML file holds one (the
// [solvers] tables), and a certificate's lineage record keeps one (as
// JSON) so that renewals answer challenges exactly as the first order did.
// JSON and TOML use the same snake_case keys.
//
// Secrets are never part of a Config: settings that need one name the
// file or the environment variable that holds it, and Build reads it
// through Env. The package itself reads no environment variable.
//
// The life of a Config: Validate (or let Build do it), Build, then
// Set.Prepare before the order is placed, so that every local problem (a
// port that is taken, a webroot that does not exist, a hook that is not
// executable, a secret that is not set) is reported at once before the CA
// is asked for anything, and Set.Close after the order.
package solverset

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// Config says how challenges are answered. Nil tables are not configured.
// The zero Config configures nothing. It round-trips through
// encoding/json and decodes from TOML (github.com/BurntSushi/toml) with
// the same keys.
type Config struct {
	// HTTP01 answers http-01 (RFC 8555 §8.3).
	HTTP01 *HTTP01 `json:"http01,omitempty" toml:"http01"`
	// TLSALPN01 answers tls-alpn-01 (RFC 8737).
	TLSALPN01 *TLSALPN01 `json:"tlsalpn01,omitempty" toml:"tlsalpn01"`
	// DNS01 answers the DNS challenges: dns-01 (RFC 8555 §8.4), and with
	// a Provider also dns-account-01 and dns-persist-01.
	DNS01 *DNS01 `json:"dns01,omitempty" toml:"dns01"`
}

// HTTP01 answers http-01 (RFC 8555 §8.3) with a built-in server on Listen
// or files under Webroot; exactly one of them.
type HTTP01 struct {
	// Listen is the host:port of a built-in server (":80",
	// "127.0.0.1:5002", "[::1]:80").
	Listen string `json:"listen,omitempty" toml:"listen"`
	// Webroot is the document root of a running web server: the
	// response goes to Webroot/.well-known/acme-challenge/TOKEN. The
	// directory must exist; only .well-known/acme-challenge is created.
	Webroot string `json:"webroot,omitempty" toml:"webroot"`
}

// TLSALPN01 answers tls-alpn-01 (RFC 8737) with a built-in TLS server.
type TLSALPN01 struct {
	// Listen is the host:port of the built-in server (":443"). Required.
	Listen string `json:"listen,omitempty" toml:"listen"`
}

// The values of DNS01.Provider.
const (
	// ProviderRFC2136 writes records by DNS UPDATE (RFC 2136), signed
	// with TSIG (RFC 8945): DNS01.Server and the tsig_* settings.
	ProviderRFC2136 = "rfc2136"
	// ProviderExec runs DNS01.Exec as "CMD present|cleanup FQDN VALUE"
	// (dnsprovider/exec).
	ProviderExec = "exec"
	// ProviderWebhook POSTs to DNS01.WebhookURL (dnsprovider/webhook).
	ProviderWebhook = "webhook"
	// ProviderACMEDNS updates an acme-dns server (dnsprovider/acmedns).
	ProviderACMEDNS = "acme-dns"
	// ProviderHook is the former spelling of ProviderExec with
	// NoPropagationCheck and NoCNAME, kept so that configurations and
	// lineage records that use it still work (see DNS01.Hook).
	//
	// Deprecated: use ProviderExec.
	ProviderHook = "hook"
)

// Providers are the values DNS01.Provider may take ("hook", the former
// spelling of "exec", is still read: see DNS01.Hook).
func Providers() []string {
	return []string{ProviderRFC2136, ProviderExec, ProviderWebhook, ProviderACMEDNS}
}

// Default names of the environment variables that hold secrets, when a
// Config names none.
const (
	// DefaultTSIGSecretEnv holds the base64 TSIG secret for TSIGName.
	DefaultTSIGSecretEnv = "CERTKEEPER_TSIG_SECRET"
	// DefaultWebhookAuthorizationEnv, if set, is the webhook's
	// Authorization header.
	DefaultWebhookAuthorizationEnv = "CERTKEEPER_DNS_WEBHOOK_AUTHORIZATION"
)

// DNS01 answers the DNS challenges (dns-01, dns-account-01,
// dns-persist-01) through a provider, and checks propagation (see
// docs/dns.md). Zero values mean the defaults given on each field.
type DNS01 struct {
	// Provider is "rfc2136", "exec", "webhook" or "acme-dns".
	Provider string `json:"provider,omitempty" toml:"provider"`
	// Hook is the former spelling of the "exec" provider: hook = CMD
	// (with provider empty, "hook" or "exec") is read as provider =
	// "exec", exec = CMD, no_propagation_check and no_cname, which is how
	// the hook worked: the same "CMD present|cleanup FQDN VALUE" at the
	// record's own name, Delay waited instead of a propagation check.
	// Canonical rewrites it; configurations and lineage records written
	// with it keep working.
	//
	// Deprecated: set Provider "exec" and Exec.
	Hook string `json:"hook,omitempty" toml:"hook"`
	// Delay is waited after presenting, before the first propagation
	// check (with NoPropagationCheck: instead of it). Default none.
	Delay Duration `json:"delay,omitempty" toml:"delay"`

	// Server is the primary server (host:port) that "rfc2136" updates.
	Server string `json:"server,omitempty" toml:"server"`
	// TSIGKeyFile is a BIND key file (tsig-keygen output) holding the
	// TSIG key's name, algorithm and secret. Instead: TSIGName with
	// TSIGAlgorithm and the secret from TSIGSecretFile or TSIGSecretEnv.
	// Without either, updates are unsigned.
	TSIGKeyFile string `json:"tsig_key_file,omitempty" toml:"tsig_key_file"`
	// TSIGName is the TSIG key's name.
	TSIGName string `json:"tsig_name,omitempty" toml:"tsig_name"`
	// TSIGAlgorithm is hmac-sha256 (default), hmac-sha512, hmac-sha384,
	// hmac-sha224 or hmac-sha1.
	TSIGAlgorithm string `json:"tsig_algorithm,omitempty" toml:"tsig_algorithm"`
	// TSIGSecretFile is a file holding the base64 secret of TSIGName.
	TSIGSecretFile string `json:"tsig_secret_file,omitempty" toml:"tsig_secret_file"`
	// TSIGSecretEnv is the environment variable holding the secret of
	// TSIGName when TSIGSecretFile is not set; default
	// DefaultTSIGSecretEnv.
	TSIGSecretEnv string `json:"tsig_secret_env,omitempty" toml:"tsig_secret_env"`
	// TTL of the records "rfc2136" writes; default 1m.
	TTL Duration `json:"ttl,omitempty" toml:"ttl"`

	// Exec is the program of "exec", a path or a name looked up in
	// $PATH: "CMD present|cleanup FQDN VALUE".
	Exec string `json:"exec,omitempty" toml:"exec"`

	// WebhookURL receives the "webhook" provider's POSTs.
	WebhookURL string `json:"webhook_url,omitempty" toml:"webhook_url"`
	// WebhookHeaders are sent with each POST (name to value). They are
	// stored with the Config: put no secret here, use
	// WebhookAuthorizationFile or WebhookAuthorizationEnv.
	WebhookHeaders map[string]string `json:"webhook_headers,omitempty" toml:"webhook_headers"`
	// WebhookAuthorizationFile is a file holding the Authorization
	// header's value.
	WebhookAuthorizationFile string `json:"webhook_authorization_file,omitempty" toml:"webhook_authorization_file"`
	// WebhookAuthorizationEnv is the environment variable holding the
	// Authorization header's value; default
	// DefaultWebhookAuthorizationEnv, which may be unset (no header),
	// while a variable named here must be set.
	WebhookAuthorizationEnv string `json:"webhook_authorization_env,omitempty" toml:"webhook_authorization_env"`

	// ACMEDNSServer is the acme-dns API's base URL.
	ACMEDNSServer string `json:"acme_dns_server,omitempty" toml:"acme_dns_server"`
	// ACMEDNSAccounts is the JSON file mapping each domain to its
	// acme-dns account (acmedns.LoadAccounts); it holds passwords.
	ACMEDNSAccounts string `json:"acme_dns_accounts,omitempty" toml:"acme_dns_accounts"`

	// Resolvers (host:port) answer the zone, CNAME and NS lookups;
	// default the system's (/etc/resolv.conf).
	Resolvers []string `json:"resolvers,omitempty" toml:"resolvers"`
	// NSPort is the port on which the zone's authoritative servers are
	// asked; default 53.
	NSPort int `json:"ns_port,omitempty" toml:"ns_port"`
	// CheckServers (host:port) are asked in the propagation check
	// instead of the zone's NS records (hidden primaries).
	CheckServers []string `json:"check_servers,omitempty" toml:"check_servers"`
	// CheckResolvers (host:port) are recursive resolvers that must also
	// serve the record.
	CheckResolvers []string `json:"check_resolvers,omitempty" toml:"check_resolvers"`
	// PropagationTimeout ends the propagation check; default 2m.
	PropagationTimeout Duration `json:"propagation_timeout,omitempty" toml:"propagation_timeout"`
	// PropagationInterval is the pause between checks; default 2s.
	PropagationInterval Duration `json:"propagation_interval,omitempty" toml:"propagation_interval"`
	// NoPropagationCheck skips the check: only Delay is waited.
	NoPropagationCheck bool `json:"no_propagation_check,omitempty" toml:"no_propagation_check"`
	// NoCNAME writes _acme-challenge records at their own name, without
	// following CNAMEs.
	NoCNAME bool `json:"no_cname,omitempty" toml:"no_cname"`
	// Zones are the zones the provider writes in, e.g. "example.com": a
	// record in one of them is not looked up with SOA queries
	// (dns01.Solver.Zones), for resolvers that do not answer them.
	Zones []string `json:"zones,omitempty" toml:"zones"`
}

// provider returns the effective provider: the canonical name for an
// alias.
func (d *DNS01) provider() string {
	switch {
	case d.Hook != "" && (d.Provider == "" || d.Provider == ProviderHook):
		return ProviderExec
	case d.Provider == "acmedns":
		return ProviderACMEDNS
	}
	return d.Provider
}

// HookNote is the deprecation note Canonical gives for dns01.hook.
const HookNote = `dns01.hook is deprecated: it is read as provider = "exec", exec = the same program, ` +
	`no_propagation_check = true and no_cname = true (how the hook worked); write those instead`

// Canonical returns c with its former spellings rewritten (dns01.hook:
// see DNS01.Hook) and a note for each one rewritten, naming its key (nil
// when there were none). A former spelling that conflicts with a setting
// (hook with exec, or with another provider) is left as it is, for
// Validate to report. c is not changed. Validate, Types and Build read a
// Config through Canonical, so callers need it only to warn or to store
// the new form.
func (c Config) Canonical() (Config, []string) {
	d := c.DNS01
	if d == nil || d.Hook == "" || d.Exec != "" || (d.Provider != "" && d.Provider != ProviderHook && d.Provider != ProviderExec) {
		return c, nil
	}
	if len(d.used()["propagation"]) > 0 {
		return c, nil // Validate says why
	}
	n := *d
	n.Provider, n.Exec, n.Hook = ProviderExec, d.Hook, ""
	n.NoPropagationCheck, n.NoCNAME = true, true
	c.DNS01 = &n
	return c, []string{HookNote}
}

// Duration is a time.Duration written as a string such as "90s" in JSON
// and TOML. Negative durations are refused.
type Duration time.Duration

// UnmarshalText parses a Go duration string ("90s", "15m", "12h").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use a number with a unit: 90s, 15m, 12h)", b)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: negative", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Env is what Build takes from the program: the library reads no
// environment variable itself.
type Env struct {
	// Getenv reads the variables that settings name for secrets. Nil
	// reads none (every variable is unset).
	Getenv func(string) string
	// Output receives the output of hook commands. Nil discards it.
	Output io.Writer
	// Environ is the environment of the programs solvers run (the exec
	// DNS provider), "NAME=value" entries as os.Environ returns them,
	// less their secrets (see dnsprovider/exec). Nil means an empty one.
	Environ []string
	// Logger receives the built-in servers' errors and the dns-01
	// solvers' progress (records added and removed, the propagation
	// delay and check). Nil discards them.
	Logger *slog.Logger
	// Names, if set, names settings in the text of Build's and
	// Set.Prepare's errors as the program's user knows them: a flag
	// ("-http-listen") or a file's key ("http-listen") for a setting of
	// the Config ("http01.listen"); "" keeps the Config's key. The
	// KeyErrors' Key stays the Config's. Nil writes the Config's keys.
	Names func(setting string) string
}

// named has the KeyErrors in err written with e.Names (see KeyError.Error).
func (e Env) named(err error) error {
	if e.Names != nil {
		keyed, _ := KeyErrors(err)
		for _, ke := range keyed {
			ke.names = e.Names
		}
	}
	return err
}

func (e Env) getenv(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

// KeyError is a problem with one setting of a Config. Validate, Build,
// Prepare and Check return them, joined by errors.Join; callers that
// embed a Config in a larger file prefix Key with the table's path.
type KeyError struct {
	// Key is the setting's path in the Config: "dns01.server",
	// "http01.listen", "http01" for a whole table.
	Key string
	// Err says what is wrong.
	Err error

	// format and args make Err; args of type keyRef name other
	// settings, which Message renames.
	format string
	args   []any
	// names, set from Env.Names, names Key and the other settings in
	// Error.
	names func(setting string) string
}

// Error returns "key: problem", with the key and the other settings the
// problem names written as Env.Names names them when the error came from
// a Set built with it.
func (e *KeyError) Error() string {
	if e.names == nil {
		return e.Key + ": " + e.Err.Error()
	}
	key := e.names(e.Key)
	if key == "" {
		key = e.Key
	}
	return key + ": " + e.Message(e.names)
}

// Unwrap returns Err.
func (e *KeyError) Unwrap() error { return e.Err }

// Message returns Err's text with the other settings it names (such as
// "needs tsig_name", whose setting is "dns01.tsig_name") written as name
// returns them: a program's flag ("-tsig-name") or its file's key
// ("tsig-name"). Where name returns "", the setting keeps its name in the
// Config (its last element, "tsig_name"). The text is Err's when it names
// no other setting.
func (e *KeyError) Message(name func(setting string) string) string {
	if e.format == "" {
		return e.Err.Error()
	}
	args := make([]any, len(e.args))
	for i, a := range e.args {
		args[i] = a
		if r, ok := a.(keyRef); ok {
			if n := name(r.setting); n != "" {
				args[i] = n
			}
		}
	}
	return fmt.Sprintf(e.format, args...)
}

// keyRef is a setting a KeyError's message names: its path in the
// Config ("dns01.tsig_name") and its text by default ("tsig_name").
type keyRef struct{ setting, text string }

// ref names setting by its last element: "tsig_name".
func ref(setting string) keyRef {
	text := setting
	if i := strings.LastIndexByte(setting, '.'); i >= 0 {
		text = setting[i+1:]
	}
	return keyRef{setting, text}
}

// String returns the setting's default text.
func (r keyRef) String() string { return r.text }

// keyErr makes a KeyError with a formatted message; keyRef arguments name
// other settings.
func keyErr(key, format string, a ...any) error {
	return &KeyError{Key: key, Err: fmt.Errorf(format, a...), format: format, args: a}
}

// keyErrCause is keyErr whose Err also wraps cause (for errors.Is and
// errors.As) without writing cause's text.
func keyErrCause(key string, cause error, format string, a ...any) error {
	ke := keyErr(key, format, a...).(*KeyError)
	ke.Err = &causeError{msg: ke.Err.Error(), cause: cause}
	return ke
}

// causeError is a message that wraps an error it does not quote.
type causeError struct {
	msg   string
	cause error
}

func (e *causeError) Error() string { return e.msg }
func (e *causeError) Unwrap() error { return e.cause }

// KeyErrors returns the KeyErrors in err, a KeyError or errors joined by
// errors.Join (nested joins included), in order, and the errors that are
// not KeyErrors.
func KeyErrors(err error) (keyed []*KeyError, other []error) {
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if ke, ok := err.(*KeyError); ok {
			keyed = append(keyed, ke)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		other = append(other, err)
	}
	walk(err)
	return keyed, other
}

// Set is a Config built into solvers. Its methods are safe for
// concurrent use, also while the solvers are in use.
type Set struct {
	// Solvers by challenge type, for issue.Issuer.
	Solvers map[acme.ChallengeType]challenge.Solver
	// Preference is the order of challenge types to try: the challenges
	// given to Build, nil (issue.DefaultPreference) if none were.
	Preference []acme.ChallengeType

	cfg     Config
	env     Env
	servers []server // the built-in servers, which Prepare binds

	mu   sync.Mutex
	held []server // bound by Prepare, released by Close
}

// server is a built-in solver server that can bind its port in advance.
type server struct {
	key string // "http01.listen"
	s   interface {
		Listen(ctx context.Context) error
		Close() error
	}
}

// tableFor names the table that configures challenge type t.
func tableFor(t acme.ChallengeType) string {
	switch t {
	case acme.ChallengeHTTP01:
		return "http01"
	case acme.ChallengeTLSALPN01:
		return "tlsalpn01"
	}
	if strings.HasPrefix(string(t), "dns-") {
		return "dns01"
	}
	return ""
}
