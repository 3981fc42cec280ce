package autotls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/solver/http01"
	"github.com/certkeeper/certkeeper/solver/shared"
	"github.com/certkeeper/certkeeper/solver/tlsalpn01"
)

// DefaultPreference returns the challenge order of the issuer autotls builds
// when Config.Issuer.Preference is empty: tls-alpn-01 first, since the TLS
// listener that uses the Config always answers it, then http-01, answered
// only if HTTPHandler serves port 80, then dns-01 if the template has a
// solver for it (wildcards need it).
func DefaultPreference() []acme.ChallengeType {
	return []acme.ChallengeType{acme.ChallengeTLSALPN01, acme.ChallengeHTTP01, acme.ChallengeDNS01}
}

// Config makes a Go server serve HTTPS with certificates from a
// manager.Manager. Set the fields, then use TLSConfig, Listener,
// HTTPHandler or ListenAndServe; a Config must not be copied or have its
// fields changed after first use. It is safe for concurrent use.
//
// Handshakes are answered from the Manager's memory (Manager.Lookup): a
// name that has a certificate never waits on the disk or the network.
// Every other name waits, at most OnDemand.HandshakeWait and never beyond
// the handshake's own context, for a certificate that is being obtained:
// one of Names not issued yet, or a name the OnDemand policy allows.
type Config struct {
	// Manager keeps the certificates and renews them. Required. autotls
	// calls its Manage, Renew, Unmanage and Lookup; running it (Run) is the
	// caller's job, except in ListenAndServe.
	Manager *manager.Manager

	// Names are the names to keep certificates for, one certificate per
	// name, handed to Manager by Manage (and ListenAndServe). A wildcard
	// ("*.example.com") needs a dns-01 solver in Issuer. Certificates
	// given to Manager directly are served too. Default: none.
	Names []string

	// Issuer is the template of the issuer used for Names and on-demand
	// names: its Client, Account, Preference (empty means
	// DefaultPreference) and Solvers are copied, and autotls adds its own
	// tls-alpn-01 solver (answered by TLSConfig) and http-01 solver
	// (answered by HTTPHandler) for the types Solvers lacks. Required
	// when Names or OnDemand is set.
	Issuer *issue.Issuer

	// KeyType is the key type of the certificates autotls asks for.
	// Empty means keys.EC256.
	KeyType keys.Type

	// OnDemand, if set, allows names that are not in Names to get a
	// certificate at their first handshake. Nil means never.
	OnDemand *OnDemandPolicy

	// DefaultServerName is the certificate served to clients that send no
	// server name (SNI), such as old clients or connections by IP address.
	// Empty means such handshakes fail.
	DefaultServerName string

	// HTTPSAddr is where ListenAndServe serves TLS. Empty means ":443".
	HTTPSAddr string

	// HTTPAddr is where ListenAndServe serves HTTPHandler(nil). Empty
	// means ":80"; "-" serves no plain HTTP (then http-01 is not
	// answered). HTTPHandler uses HTTPSAddr's port in its redirects.
	HTTPAddr string

	// Logger receives on-demand decisions and failures. Nil discards them.
	Logger *slog.Logger

	// SharedChallenges, if set, is the solver of a store shared by
	// several instances (cluster mode, docs/cluster.md): autotls then
	// presents its tls-alpn-01 and http-01 challenges there, and
	// TLSConfig and HTTPHandler also answer the challenges that any other
	// instance presented. Nil keeps them in this process.
	SharedChallenges *shared.Solver

	// MaxBodyBytes bounds each request body read through Serve's HTTPS
	// server. Zero means DefaultMaxBodyBytes; negative, no bound.
	MaxBodyBytes int64
	// ReadTimeout bounds the reading of one request, body included, on
	// Serve's servers. Zero means DefaultReadTimeout; negative, none.
	ReadTimeout time.Duration

	once    sync.Once
	st      *state
	initErr error
}

// state is what the Config builds at first use.
type state struct {
	cfg       *Config
	log       *slog.Logger
	alpn      *tlsalpn01.Responder
	http      *http01.Handler
	issuer    *issue.Issuer
	names     map[string]bool
	defName   string
	tlsConfig *tls.Config

	// On demand (nil policy when OnDemand is nil).
	policy   *OnDemandPolicy
	allow    patterns
	neg      negCache
	limits   limiters
	mu       sync.Mutex
	flights  map[string]*flight
	onDemand map[string]bool // names managed because of OnDemand
	lastUse  sync.Map        // on-demand name -> *atomic.Int64, Unix ns of its last handshake
	refusals refusalLog
}

func (c *Config) init() (*state, error) {
	c.once.Do(func() { c.st, c.initErr = c.build() })
	return c.st, c.initErr
}

func (c *Config) build() (*state, error) {
	if c.Manager == nil {
		return nil, errors.New("autotls: Config.Manager is nil")
	}
	s := &state{
		cfg:      c,
		log:      c.Logger,
		alpn:     &tlsalpn01.Responder{},
		http:     &http01.Handler{},
		names:    map[string]bool{},
		neg:      negCache{ttl: DefaultFailureTTL},
		flights:  map[string]*flight{},
		onDemand: map[string]bool{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, n := range c.Names {
		id, err := issue.ParseIdentifier(n)
		if err != nil {
			return nil, fmt.Errorf("autotls: Config.Names: %w", err)
		}
		s.names[id.Value] = true
	}
	if c.DefaultServerName != "" {
		n, err := issue.NormalizeDNSName(c.DefaultServerName)
		if err != nil {
			return nil, fmt.Errorf("autotls: Config.DefaultServerName: %w", err)
		}
		s.defName = n
	}
	if (len(c.Names) > 0 || c.OnDemand != nil) && c.Issuer == nil {
		return nil, errors.New("autotls: Config.Issuer is required with Names or OnDemand")
	}
	if c.Issuer != nil {
		is := *c.Issuer
		is.Solvers = maps.Clone(c.Issuer.Solvers)
		if is.Solvers == nil {
			is.Solvers = map[acme.ChallengeType]challenge.Solver{}
		}
		var alpnSolver, httpSolver challenge.Solver = s.alpn, s.http
		if c.SharedChallenges != nil {
			alpnSolver, httpSolver = c.SharedChallenges, c.SharedChallenges
		}
		if is.Solvers[acme.ChallengeTLSALPN01] == nil {
			is.Solvers[acme.ChallengeTLSALPN01] = alpnSolver
		}
		if is.Solvers[acme.ChallengeHTTP01] == nil {
			is.Solvers[acme.ChallengeHTTP01] = httpSolver
		}
		if len(is.Preference) == 0 {
			is.Preference = DefaultPreference()
		}
		if is.Logger == nil {
			is.Logger = c.Logger
		}
		s.issuer = &is
	}
	if p := c.OnDemand; p != nil {
		pc := *p
		if pc.MaxCertificates == 0 {
			pc.MaxCertificates = DefaultMaxCertificates
		}
		if pc.FailureTTL <= 0 {
			pc.FailureTTL = DefaultFailureTTL
		}
		if pc.HandshakeWait <= 0 {
			pc.HandshakeWait = DefaultHandshakeWait
		}
		if pc.IssueTimeout <= 0 {
			pc.IssueTimeout = DefaultIssueTimeout
		}
		if pc.ReleaseIdle == 0 {
			pc.ReleaseIdle = DefaultReleaseIdle
		}
		if pc.RefusalLogInterval <= 0 {
			pc.RefusalLogInterval = DefaultRefusalLogInterval
		}
		allow, err := compilePatterns(pc.Allow)
		if err != nil {
			return nil, err
		}
		s.policy, s.allow = &pc, allow
		s.neg.ttl = pc.FailureTTL
		s.limits.init(pc.RateLimit.orDefault(DefaultRateLimit()), pc.DomainRateLimit.orDefault(DefaultDomainRateLimit()))
	}
	base := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   CipherSuites,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: s.getCertificate,
	}
	s.tlsConfig = s.alpn.WrapConfig(base)
	if sh := c.SharedChallenges; sh != nil {
		local := s.tlsConfig.GetCertificate
		s.tlsConfig.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if cert, ok := sh.GetCertificate(hello); ok {
				return cert, nil
			}
			return local(hello)
		}
	}
	return s, nil
}

// Spec returns the manager.Spec autotls would manage for
// names (the first names it), with the issuer built from Config.Issuer,
// for callers that want to change something (say, the challenge
// preference) before giving it to Manager.Manage themselves.
func (c *Config) Spec(names ...string) (manager.Spec, error) {
	s, err := c.init()
	if err != nil {
		return manager.Spec{}, err
	}
	if s.issuer == nil {
		return manager.Spec{}, errors.New("autotls: Config.Issuer is nil")
	}
	ids, err := issue.ParseIdentifiers(names...)
	if err != nil {
		return manager.Spec{}, err
	}
	is := *s.issuer
	return manager.Spec{Name: ids[0].Value, Identifiers: ids, Issuer: &is, KeyType: c.KeyType}, nil
}

// Manage hands Names to the Manager. Call it once before serving (unless
// ListenAndServe does); the Manager's Run then obtains what is missing,
// and handshakes for a name not yet issued wait for it.
func (c *Config) Manage(ctx context.Context) error {
	if _, err := c.init(); err != nil {
		return err
	}
	certs := make([]manager.Spec, 0, len(c.Names))
	for _, n := range c.Names {
		mc, err := c.Spec(n)
		if err != nil {
			return err
		}
		certs = append(certs, mc)
	}
	if len(certs) == 0 {
		return nil
	}
	return c.Manager.Manage(ctx, certs...)
}

// TLSConfig returns the tls.Config to serve with: certificates by SNI from
// the Manager, tls-alpn-01 answered, h2 and http/1.1 offered. Change a
// copy (Clone) if needed, keeping GetCertificate and NextProtos' entries.
// It panics if the Config is invalid (Manager nil, a bad name); call
// Manage or Validate first to get the error instead.
func (c *Config) TLSConfig() *tls.Config {
	s, err := c.init()
	if err != nil {
		panic(err)
	}
	return s.tlsConfig
}

// Validate reports what is wrong with the Config, if anything.
func (c *Config) Validate() error {
	_, err := c.init()
	return err
}

// Listener returns a TLS listener over inner that serves TLSConfig.
func (c *Config) Listener(inner net.Listener) net.Listener {
	return tls.NewListener(inner, c.TLSConfig())
}

// GetCertificate answers a handshake as TLSConfig does, without the
// tls-alpn-01 validations (use TLSConfig for those).
func (c *Config) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s, err := c.init()
	if err != nil {
		return nil, err
	}
	return s.getCertificate(hello)
}
