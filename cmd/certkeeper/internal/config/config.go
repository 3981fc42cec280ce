// Package config reads the daemon's configuration file (TOML, documented in
// docs/daemon.md) into typed values and checks them, so that every mistake
// is reported with the key it is about before anything runs. It knows the
// file format only; internal/cli turns a Config into library values.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/solver/solverset"
	"github.com/certkeeper/certkeeper/store"
)

// KeyError is a problem with one key of the file: Key is its full path
// ("metrics.listen", "solvers.dns-server", "certificate[2].domains").
// The errors of Parse, Load and LoadAll hold one for each such problem,
// joined; solverset.KeyErrors lists them.
type KeyError = solverset.KeyError

// Config is the whole file, as the daemon uses it. The file's keys are
// the command line's flag names (see Keys and docs/daemon.md); the
// struct groups them by what they configure.
type Config struct {
	CA       CA
	Account  Account
	Store    Store
	Renewal  Renewal
	Metrics  Metrics
	Solvers  Solvers
	Hooks    []Hook
	Certs    []Certificate
	Defaults CertDefaults

	// Deprecated notes each former key the file used and the key to
	// write instead ("store.dir is deprecated: write store"), in the
	// order found; the settings are taken all the same.
	Deprecated []string
}

// CA says which ACME server to use.
type CA struct {
	// URL is a directory URL or an alias ("letsencrypt",
	// "letsencrypt-staging"). Default "letsencrypt-staging".
	URL string
	// Root is a PEM file of roots to trust for the CA's API.
	Root string
	// EABKeyID and EABHMAC are the external account binding (RFC 8555
	// §7.3.4); EABHMACFile reads the HMAC key from a file instead.
	EABKeyID    string
	EABHMAC     string
	EABHMACFile string
}

// Account is the ACME account used, registered at start-up if the store
// has none.
type Account struct {
	Email    string
	KeyType  string
	AgreeTOS bool
}

// Store is where certificates, keys and the account are kept.
type Store struct {
	// Backend is "dir" (the default: a directory, Dir) or the name of a
	// store.Backend of the binary ("etcd": an etcd cluster shared by
	// several instances, docs/cluster.md), configured by its own table,
	// [NAME] at the top level of the file, which Section decodes.
	Backend string
	Dir     string
	Layout  string

	// section decodes the backend's table; set by decode.
	section func(v any) error
}

// Section decodes the table of a Backend other than "dir" into v, as
// store.Backend's decode: keys by `toml` tags, an unknown key an error
// naming it; a missing table decodes as empty.
func (s Store) Section(v any) error {
	if s.section == nil {
		return nil
	}
	return s.section(v)
}

// backendName is the form of a store backend's name.
var backendName = regexp.MustCompile(`^[a-z][a-z0-9]{0,31}$`)

// check validates the store's keys; the backend's own table is checked
// by the backend.
func (s *Store) check(bad func(key, format string, a ...any)) {
	if s.Backend == "" {
		s.Backend = "dir"
	}
	switch {
	case s.Backend == "dir":
		if s.Dir == "" {
			bad("store", "required: the store's directory")
		}
	case !backendName.MatchString(s.Backend) || reservedTable(s.Backend):
		bad("store-backend", "%q: want dir or the name of a backend, such as etcd", s.Backend)
	case s.Dir != "":
		bad("store", "not used with store-backend = %q", s.Backend)
	}
	switch s.Layout {
	case "":
		s.Layout = "standard"
	case "standard", "shared":
	default:
		bad("layout", "%q: want standard or shared", s.Layout)
	}
}

// Renewal holds the manager's schedule settings; zero values mean the
// manager's defaults.
type Renewal struct {
	CheckInterval Duration
	RenewFraction float64
	ReissueBefore Duration
	PanicBefore   Duration
	Backoff       []Duration
	Jitter        float64
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the host:port serving /metrics; empty serves none.
	Listen string
	// Username and PasswordFile, both or neither, put /metrics behind
	// HTTP basic authentication; the file holds the password (its
	// surrounding white space is ignored).
	Username     string
	PasswordFile string
}

// Solvers configures how challenges are answered: the [solvers] tables
// (and a certificate's own [certificate.solvers]) are the solverset
// schema, the same as the command line's flags and a lineage record's,
// with every DNS provider and the propagation check (docs/daemon.md).
type Solvers = solverset.Config

// Hook runs a command on events.
type Hook struct {
	Events  []string `toml:"events"`
	Command string   `toml:"command"`
	Args    []string `toml:"args"`
	Timeout Duration `toml:"timeout"`
}

// CertDefaults apply to every certificate that does not set its own.
type CertDefaults struct {
	Challenges     []string
	KeyType        string
	ReuseKey       bool
	Profile        string
	PreferredChain string
}

// Certificate is one certificate to keep.
type Certificate struct {
	// Name is where it is stored; default the first of Names.
	Name  string
	Names []string
	// Challenges are the challenge types in order of preference; default
	// [defaults] challenges, else every type configured in Solvers.
	Challenges     []string
	KeyType        string
	ReuseKey       *bool
	Profile        string
	PreferredChain string
	// Solvers, if set, replaces the top-level [solvers] for this
	// certificate.
	Solvers *Solvers

	// Identifiers is Names parsed; filled in by Load.
	Identifiers []acme.Identifier
}

// Duration is a time.Duration written as a string such as "12h" or "90s",
// the solver configuration's own type, so that one file reads one way.
type Duration = solverset.Duration

// Load reads and checks the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	return c, nil
}

// Parse decodes and checks a configuration. Unknown keys are errors, named
// with their full path; former keys are taken, and noted in
// Config.Deprecated.
func Parse(data []byte) (*Config, error) {
	c, err := decode(data)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// LoadAll reads and checks the file at path like Load, but also returns
// the Config when its checks fail (with defaults filled in as far as
// they got), so that a caller checking more ("certkeeper run -check") can
// report every problem at once. The Config is nil only when the file
// cannot be read or decoded. Errors do not repeat path, except the
// error reading the file.
func LoadAll(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decode(data)
}

// decode decodes data and checks it: a nil Config when it does not
// decode, else the Config and its problems. The table of the store
// backend, [NAME], is left to Store.Section.
func decode(data []byte) (*Config, error) {
	var f file
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, decodeError(data, err)
	}
	c, notes, problems := f.toConfig(md)
	skip := ""
	if b := c.Store.Backend; b != "" && b != "dir" && backendName.MatchString(b) && !reservedTable(b) {
		skip = b
		var raw map[string]any
		if _, err := toml.Decode(string(data), &raw); err != nil {
			return nil, decodeError(data, err)
		}
		table, _ := raw[b].(map[string]any)
		if _, given := raw[b]; given && table == nil {
			problems = append(problems, fmt.Sprintf("%s: takes a table: [%s]", b, b))
		}
		if table == nil && f.formerSection != nil {
			table = f.formerSection
		} else if table != nil && f.formerSection != nil {
			problems = append(problems, fmt.Sprintf("store: former etcd_* keys and the table [%s] both given: keep [%s]", b, b))
		}
		c.Store.section = func(v any) error {
			if table == nil {
				return nil
			}
			// The caller names the table: errors name the keys in it.
			if errs := decodeFormer(b, table, v); len(errs) > 0 {
				for i, e := range errs {
					errs[i] = strings.TrimPrefix(strings.TrimPrefix(e, b+"."), b+": ")
				}
				return errors.New(strings.Join(errs, "; "))
			}
			return nil
		}
	}
	if err := undecoded(data, md, skip); err != nil {
		return nil, err
	}
	c.Deprecated = dedupe(notes)
	var errs []error
	for _, p := range problems {
		errs = append(errs, errors.New(p))
	}
	if err := c.check(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// dedupe drops the index of certificate[N] from notes and the repeats
// that leaves.
func dedupe(notes []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range notes {
		n = certIndex.ReplaceAllString(n, "certificate")
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

var certIndex = regexp.MustCompile(`certificate\[\d+\]`)

// DirectoryURL returns the CA's directory URL, resolving an alias (see
// acme.ResolveDirectory); a URL that does not resolve is returned as
// written (check reports it).
func (c *CA) DirectoryURL() string {
	if u, err := acme.ResolveDirectory(c.URL); err == nil {
		return u
	}
	return c.URL
}

// EventTypes are the event names hooks may subscribe to (manager.EventType
// values).
var EventTypes = []string{"obtaining", "obtained", "renewing", "renewed", "failed", "expiring_soon", "panic", "revoked", "hook_failed"}

// hookEvents are the EventTypes a [[hook]] may name: all but hook_failed.
func hookEvents() []string {
	return slices.DeleteFunc(slices.Clone(EventTypes), func(e string) bool { return e == "hook_failed" })
}

// ChallengeTypes are the challenge types certificates may prefer.
var ChallengeTypes = []string{"http-01", "tls-alpn-01", "dns-01", "dns-account-01", "dns-persist-01"}

func (c *Config) check() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, &KeyError{Key: key, Err: fmt.Errorf(format, a...)})
	}
	if c.CA.URL == "" {
		c.CA.URL = "letsencrypt-staging"
	}
	if _, err := acme.ResolveDirectory(c.CA.URL); err != nil {
		bad("ca", "%s", strings.TrimPrefix(err.Error(), "acme: "))
	}
	if c.CA.EABHMAC != "" && c.CA.EABHMACFile != "" {
		bad("eab-hmac-file", "give eab-hmac or eab-hmac-file, not both")
	}
	if (c.CA.EABKeyID == "") != (c.CA.EABHMAC == "" && c.CA.EABHMACFile == "") {
		bad("eab-kid", "external account binding needs both eab-kid and eab-hmac (or eab-hmac-file)")
	}
	if c.Account.KeyType == "" {
		c.Account.KeyType = string(keys.EC256)
	}
	if _, err := keys.ParseType(c.Account.KeyType); err != nil {
		bad("account-key-type", "%v", err)
	}
	if c.Account.Email != "" && !strings.Contains(c.Account.Email, "@") {
		bad("email", "%q is not an email address", c.Account.Email)
	}
	c.Store.check(bad)
	r := c.Renewal
	if r.RenewFraction < 0 || r.RenewFraction >= 1 {
		bad("renewal.renew-fraction", "%v is not between 0 and 1", r.RenewFraction)
	}
	if r.Jitter < 0 || r.Jitter > 1 {
		bad("renewal.jitter", "%v is not between 0 and 1", r.Jitter)
	}
	for i, b := range r.Backoff {
		if b <= 0 {
			bad(fmt.Sprintf("renewal.backoff[%d]", i), "must be positive")
		}
	}
	if l := c.Metrics.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			bad("metrics.listen", "%q is not host:port (%v)", l, err)
		}
	}
	if (c.Metrics.Username == "") != (c.Metrics.PasswordFile == "") {
		bad("metrics.password-file", "basic authentication needs both username and password-file")
	}
	checkSolvers("solvers", &c.Solvers, bad)
	for i, h := range c.Hooks {
		key := fmt.Sprintf("hook[%d]", i)
		if h.Command == "" {
			bad(key+".command", "required")
		}
		for _, e := range h.Events {
			switch {
			case e == "hook_failed":
				// The manager runs no hook for it (a failing hook would
				// start hooks in a loop): accepted, it did nothing.
				bad(key+".events", "hook_failed runs no hook (a hook's failure is logged, counted in the metrics and given to the daemon's exit status); leave it out")
			case !slices.Contains(EventTypes, e):
				bad(key+".events", "unknown event %q (want one of %s)", e, strings.Join(hookEvents(), ", "))
			}
		}
	}
	d := &c.Defaults
	if d.KeyType != "" {
		if _, err := keys.ParseType(d.KeyType); err != nil {
			bad("defaults.key-type", "%v", err)
		}
	}
	checkChallenges("defaults.challenges", d.Challenges, bad)
	if len(c.Certs) == 0 {
		bad("certificate", "no [[certificate]] given")
	}
	seen := map[string]int{}
	for i := range c.Certs {
		cert := &c.Certs[i]
		key := fmt.Sprintf("certificate[%d]", i)
		if len(cert.Names) == 0 {
			bad(key+".domains", "required: at least one name")
			continue
		}
		ids, err := issue.ParseIdentifiers(cert.Names...)
		if err != nil {
			bad(key+".domains", "%v", err)
			continue
		}
		cert.Identifiers = ids
		if cert.Name == "" {
			cert.Name = ids[0].Value
		} else if _, err := store.EncodeName(cert.Name); err != nil {
			// The name becomes a directory of the store: "../../x",
			// "a;b" or "a b" would make the daemon exit at start.
			bad(key+".cert-name", "%q is not a certificate name (a DNS name or an IP address, as the store keeps it): %v", cert.Name, err)
			continue
		}
		if j, dup := seen[cert.Name]; dup {
			bad(key+".cert-name", "%q is also certificate[%d]'s name", cert.Name, j)
		}
		seen[cert.Name] = i
		if cert.KeyType == "" {
			cert.KeyType = d.KeyType
		}
		if cert.KeyType != "" {
			if _, err := keys.ParseType(cert.KeyType); err != nil {
				bad(key+".key-type", "%v", err)
			}
		}
		if cert.ReuseKey == nil {
			cert.ReuseKey = &d.ReuseKey
		}
		if cert.Profile == "" {
			cert.Profile = d.Profile
		}
		if cert.PreferredChain == "" {
			cert.PreferredChain = d.PreferredChain
		}
		if len(cert.Challenges) == 0 {
			cert.Challenges = d.Challenges
		}
		checkChallenges(key+".challenges", cert.Challenges, bad)
		solvers := &c.Solvers
		skey := "solvers"
		if cert.Solvers != nil {
			skey = key + ".solvers"
			checkSolvers(skey, cert.Solvers, bad)
			solvers = cert.Solvers
		}
		have := solvers.Types()
		if len(have) == 0 {
			bad(skey, "no challenge solver configured for certificate %q: add http-listen, http-webroot, tls-listen or dns-provider", cert.Name)
		}
		for _, ch := range cert.Challenges {
			if !slices.Contains(have, acme.ChallengeType(ch)) {
				bad(key+".challenges", "%s has no solver in [%s]", ch, skey)
			}
		}
		for _, id := range ids {
			if issue.IsWildcard(id) && !slices.Contains(have, acme.ChallengeDNS01) {
				bad(key+".domains", "%s is a wildcard, which only dns-01 can validate: give [%s] a dns-provider", id.Value, skey)
			}
		}
	}
	return errors.Join(errs...)
}

func checkChallenges(key string, list []string, bad func(key, format string, a ...any)) {
	for _, ch := range list {
		if !slices.Contains(ChallengeTypes, ch) {
			bad(key, "unknown challenge type %q (want %s)", ch, strings.Join(ChallengeTypes, ", "))
		}
	}
}

// checkSolvers validates one [solvers] table, whose path in the file is
// key, naming each problem by its full path (solvers.dns01.server).
func checkSolvers(key string, s *Solvers, bad func(key, format string, a ...any)) {
	keyed, other := solverset.KeyErrors(s.Validate())
	for _, ke := range keyed {
		bad(key+"."+SolverKey(ke.Key), "%s", ke.Message(SolverKeyOrNone))
	}
	for _, err := range other {
		bad(key, "%v", err)
	}
}
