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

// Config is the whole file.
type Config struct {
	CA       CA            `toml:"ca"`
	Account  Account       `toml:"account"`
	Store    Store         `toml:"store"`
	Renewal  Renewal       `toml:"renewal"`
	Metrics  Metrics       `toml:"metrics"`
	Solvers  Solvers       `toml:"solvers"`
	Hooks    []Hook        `toml:"hook"`
	Certs    []Certificate `toml:"certificate"`
	Defaults CertDefaults  `toml:"defaults"`
}

// CA says which ACME server to use.
type CA struct {
	// URL is a directory URL or an alias ("letsencrypt",
	// "letsencrypt-staging"). Default "letsencrypt-staging".
	URL string `toml:"url"`
	// Root is a PEM file of roots to trust for the CA's API.
	Root string `toml:"root"`
	// EABKeyID and EABHMAC are the external account binding (RFC 8555
	// §7.3.4); EABHMACFile reads the HMAC key from a file instead.
	EABKeyID    string `toml:"eab_kid"`
	EABHMAC     string `toml:"eab_hmac"`
	EABHMACFile string `toml:"eab_hmac_file"`
}

// Account is the ACME account used, registered at start-up if the store
// has none.
type Account struct {
	Email    string `toml:"email"`
	KeyType  string `toml:"key_type"`
	AgreeTOS bool   `toml:"agree_tos"`
}

// Store is where certificates, keys and the account are kept.
type Store struct {
	// Backend is "dir" (the default: a directory, Dir) or the name of a
	// store.Backend of the binary ("etcd": an etcd cluster shared by
	// several instances, docs/cluster.md), configured by its own table
	// [store.NAME], which Section decodes.
	Backend string `toml:"backend"`
	Dir     string `toml:"dir"`
	Layout  string `toml:"layout"`

	// section decodes [store.BACKEND]; set by Parse and LoadAll.
	section func(v any) error
}

// Section decodes the table [store.BACKEND] of a Backend other than
// "dir" into v, as store.Backend's decode: keys by `toml` tags, an
// unknown key an error naming it; a missing table decodes as empty.
func (s Store) Section(v any) error {
	if s.section == nil {
		return nil
	}
	return s.section(v)
}

// check validates the [store] table; the backend's own table is checked
// by the backend.
func (s *Store) check(bad func(key, format string, a ...any)) {
	if s.Backend == "" {
		s.Backend = "dir"
	}
	switch {
	case s.Backend == "dir":
		if s.Dir == "" {
			bad("store.dir", "required")
		}
	case !backendName.MatchString(s.Backend):
		bad("store.backend", "%q: want dir or the name of a backend, such as etcd", s.Backend)
	case s.Dir != "":
		bad("store.dir", "not used with backend = %q", s.Backend)
	}
	switch s.Layout {
	case "":
		s.Layout = "standard"
	case "standard", "shared":
	default:
		bad("store.layout", "%q: want standard or shared", s.Layout)
	}
}

// Renewal holds the manager's schedule settings; zero values mean the
// manager's defaults.
type Renewal struct {
	CheckInterval Duration   `toml:"check_interval"`
	RenewFraction float64    `toml:"renew_fraction"`
	ReissueBefore Duration   `toml:"reissue_before"`
	PanicBefore   Duration   `toml:"panic_before"`
	Backoff       []Duration `toml:"backoff"`
	Jitter        float64    `toml:"jitter"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the host:port serving /metrics; empty serves none.
	Listen string `toml:"listen"`
	// Username and PasswordFile, both or neither, put /metrics behind
	// HTTP basic authentication; the file holds the password (its
	// surrounding white space is ignored).
	Username     string `toml:"username"`
	PasswordFile string `toml:"password_file"`
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
	Challenges     []string `toml:"challenges"`
	KeyType        string   `toml:"key_type"`
	ReuseKey       bool     `toml:"reuse_key"`
	Profile        string   `toml:"profile"`
	PreferredChain string   `toml:"preferred_chain"`
}

// Certificate is one certificate to keep.
type Certificate struct {
	// Name is where it is stored; default the first of Names.
	Name  string   `toml:"name"`
	Names []string `toml:"names"`
	// Challenges are the challenge types in order of preference; default
	// [defaults] challenges, else every type configured in Solvers.
	Challenges     []string `toml:"challenges"`
	KeyType        string   `toml:"key_type"`
	ReuseKey       *bool    `toml:"reuse_key"`
	Profile        string   `toml:"profile"`
	PreferredChain string   `toml:"preferred_chain"`
	// Solvers, if set, replaces the top-level [solvers] for this
	// certificate.
	Solvers *Solvers `toml:"solvers"`

	// Identifiers is Names parsed; filled in by Load.
	Identifiers []acme.Identifier `toml:"-"`
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
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and checks a configuration. Unknown keys are errors, named
// with their full path.
func Parse(data []byte) (*Config, error) {
	c, err := decode(data)
	if err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
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
	c, err := decode(data)
	if err != nil {
		return nil, err
	}
	return c, c.check()
}

// backendName is the form of a store backend's name.
var backendName = regexp.MustCompile(`^[a-z][a-z0-9]{0,31}$`)

// decode decodes a file, leaving the table of the store backend, if any,
// to Store.Section. Unknown keys elsewhere are errors.
func decode(data []byte) (*Config, error) {
	var c Config
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return nil, decodeError(data, err)
	}
	skip := ""
	if b := c.Store.Backend; b != "" && b != "dir" && backendName.MatchString(b) {
		skip = "store." + b
		var raw struct {
			Store map[string]toml.Primitive `toml:"store"`
		}
		rmd, err := toml.Decode(string(data), &raw)
		if err != nil {
			return nil, decodeError(data, err)
		}
		prim, ok := raw.Store[b]
		c.Store.section = func(v any) error {
			if !ok {
				return nil
			}
			if err := rmd.PrimitiveDecode(prim, v); err != nil {
				return fmt.Errorf("%s: %w", skip, err)
			}
			return undecoded(rmd, "", skip+".")
		}
	}
	if err := undecoded(md, skip, ""); err != nil {
		return nil, err
	}
	return &c, nil
}

// undecoded reports the keys of the file that no field took: those under
// the table skip are left out, and only those under prefix counted when
// prefix is not "".
func undecoded(md toml.MetaData, skip, prefix string) error {
	var keys []string
	moved := false
	for _, k := range md.Undecoded() {
		key := k.String()
		if skip != "" && (key == skip || strings.HasPrefix(key, skip+".")) {
			continue
		}
		if prefix != "" && !strings.HasPrefix(key, prefix) {
			continue
		}
		if strings.HasPrefix(key, "store.etcd_") || key == "store.lock_ttl" {
			moved = true
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil
	}
	err := fmt.Errorf("unknown key(s): %s", strings.Join(keys, ", "))
	if moved {
		err = fmt.Errorf("%w (the etcd keys are in the table [store.etcd], without the etcd_ prefix: docs/cluster.md)", err)
	}
	return err
}

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

// ChallengeTypes are the challenge types certificates may prefer.
var ChallengeTypes = []string{"http-01", "tls-alpn-01", "dns-01", "dns-account-01", "dns-persist-01"}

func (c *Config) check() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if c.CA.URL == "" {
		c.CA.URL = "letsencrypt-staging"
	}
	if _, err := acme.ResolveDirectory(c.CA.URL); err != nil {
		bad("ca.url", "%s", strings.TrimPrefix(err.Error(), "acme: "))
	}
	if c.CA.EABHMAC != "" && c.CA.EABHMACFile != "" {
		bad("ca.eab_hmac_file", "give eab_hmac or eab_hmac_file, not both")
	}
	if (c.CA.EABKeyID == "") != (c.CA.EABHMAC == "" && c.CA.EABHMACFile == "") {
		bad("ca.eab_kid", "external account binding needs both eab_kid and eab_hmac (or eab_hmac_file)")
	}
	if c.Account.KeyType == "" {
		c.Account.KeyType = string(keys.EC256)
	}
	if _, err := keys.ParseType(c.Account.KeyType); err != nil {
		bad("account.key_type", "%v", err)
	}
	if c.Account.Email != "" && !strings.Contains(c.Account.Email, "@") {
		bad("account.email", "%q is not an email address", c.Account.Email)
	}
	c.Store.check(bad)
	r := c.Renewal
	if r.RenewFraction < 0 || r.RenewFraction >= 1 {
		bad("renewal.renew_fraction", "%v is not between 0 and 1", r.RenewFraction)
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
		bad("metrics.password_file", "basic authentication needs both username and password_file")
	}
	checkSolvers("solvers", &c.Solvers, bad)
	for i, h := range c.Hooks {
		key := fmt.Sprintf("hook[%d]", i)
		if h.Command == "" {
			bad(key+".command", "required")
		}
		for _, e := range h.Events {
			if !slices.Contains(EventTypes, e) {
				bad(key+".events", "unknown event %q (want one of %s)", e, strings.Join(EventTypes, ", "))
			}
		}
	}
	d := &c.Defaults
	if d.KeyType != "" {
		if _, err := keys.ParseType(d.KeyType); err != nil {
			bad("defaults.key_type", "%v", err)
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
			bad(key+".names", "required: at least one name")
			continue
		}
		ids, err := issue.ParseIdentifiers(cert.Names...)
		if err != nil {
			bad(key+".names", "%v", err)
			continue
		}
		cert.Identifiers = ids
		if cert.Name == "" {
			cert.Name = ids[0].Value
		} else if _, err := store.EncodeName(cert.Name); err != nil {
			// The name becomes a directory of the store: "../../x",
			// "a;b" or "a b" would make the daemon exit at start.
			bad(key+".name", "%q is not a certificate name (a DNS name or an IP address, as the store keeps it): %v", cert.Name, err)
			continue
		}
		if j, dup := seen[cert.Name]; dup {
			bad(key+".name", "%q is also certificate[%d]'s name", cert.Name, j)
		}
		seen[cert.Name] = i
		if cert.KeyType == "" {
			cert.KeyType = d.KeyType
		}
		if cert.KeyType != "" {
			if _, err := keys.ParseType(cert.KeyType); err != nil {
				bad(key+".key_type", "%v", err)
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
			bad(skey, "no challenge solver configured for certificate %q: add http01, tlsalpn01 or dns01", cert.Name)
		}
		for _, ch := range cert.Challenges {
			if !slices.Contains(have, acme.ChallengeType(ch)) {
				bad(key+".challenges", "%s has no solver in [%s]", ch, skey)
			}
		}
		for _, id := range ids {
			if issue.IsWildcard(id) && !slices.Contains(have, acme.ChallengeDNS01) {
				bad(key+".names", "%s is a wildcard, which only dns-01 can validate: configure [%s.dns01]", id.Value, skey)
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
		bad(key+"."+ke.Key, "%v", ke.Err)
	}
	for _, err := range other {
		bad(key, "%v", err)
	}
}
