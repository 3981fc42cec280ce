package autotls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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

// flight is one issuance that handshakes wait on.
type flight struct {
	done chan struct{}
	err  error
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

// Certificate returns the manager.Certificate autotls would manage for
// names (the first names it), with the issuer built from Config.Issuer,
// for callers that want to change something (say, the challenge
// preference) before giving it to Manager.Manage themselves.
func (c *Config) Certificate(names ...string) (manager.Certificate, error) {
	s, err := c.init()
	if err != nil {
		return manager.Certificate{}, err
	}
	if s.issuer == nil {
		return manager.Certificate{}, errors.New("autotls: Config.Issuer is nil")
	}
	ids, err := issue.ParseIdentifiers(names...)
	if err != nil {
		return manager.Certificate{}, err
	}
	is := *s.issuer
	return manager.Certificate{Name: ids[0].Value, Identifiers: ids, Issuer: &is, KeyType: c.KeyType}, nil
}

// Manage hands Names to the Manager. Call it once before serving (unless
// ListenAndServe does); the Manager's Run then obtains what is missing,
// and handshakes for a name not yet issued wait for it.
func (c *Config) Manage(ctx context.Context) error {
	if _, err := c.init(); err != nil {
		return err
	}
	certs := make([]manager.Certificate, 0, len(c.Names))
	for _, n := range c.Names {
		mc, err := c.Certificate(n)
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

func (s *state) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := hello.ServerName
	if name == "" {
		name = s.defName
		if name == "" {
			return nil, errors.New("autotls: the client sent no server name (SNI) and there is no default")
		}
	}
	// Lookup ignores case and a final dot, and does not allocate.
	if cert := s.cfg.Manager.Lookup(name); cert != nil {
		if s.policy != nil {
			s.touch(normalizeSNI(name))
		}
		return cert, nil
	}
	ctx := hello.Context()
	if ctx == nil {
		// Only a ClientHelloInfo not made by crypto/tls has none.
		ctx = context.TODO()
	}
	// Managed but not in memory (manager.Config.CacheSize): read it from
	// the store.
	if cert, err := s.cfg.Manager.Load(ctx, name); cert != nil || err != nil {
		if cert != nil && s.policy != nil {
			s.touch(normalizeSNI(name))
		}
		return cert, err
	}
	return s.slowPath(ctx, normalizeSNI(name))
}

// normalizeSNI lower-cases name and removes a final dot, allocating only
// when there is something to change.
func normalizeSNI(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			name = strings.ToLower(name)
			break
		}
	}
	return strings.TrimSuffix(name, ".")
}

// slowPath handles a name the Manager has no certificate for.
func (s *state) slowPath(ctx context.Context, name string) (*tls.Certificate, error) {
	if s.names[name] || s.policy != nil {
		// A name whose order failed recently waits for the manager's
		// backoff instead of ordering again at every handshake.
		if err := s.neg.get(name, time.Now()); err != nil {
			return nil, err
		}
	}
	if s.names[name] {
		return s.wait(ctx, name, s.flightFor(ctx, name, false))
	}
	if s.policy == nil {
		return nil, fmt.Errorf("%w: no certificate for %q", ErrNotAllowed, name)
	}
	if err := s.allowed(ctx, name); err != nil {
		s.refusals.add(ctx, s, "not_allowed", name)
		return nil, err
	}
	f, err := s.admit(ctx, name)
	if err != nil {
		reason := "rate_limited"
		if errors.Is(err, errCap) {
			reason = "cap"
		}
		s.refusals.add(ctx, s, reason, name)
		return nil, err
	}
	return s.wait(ctx, name, f)
}

// allowed applies the on-demand policy's allowlist and decision function.
func (s *state) allowed(ctx context.Context, name string) error {
	if n, err := issue.NormalizeDNSName(name); err != nil || n != name || strings.HasPrefix(n, "*.") {
		return fmt.Errorf("%w: %q is not a valid DNS name", ErrNotAllowed, name)
	}
	if s.allow.match(name) {
		return nil
	}
	if s.policy.Decide != nil {
		if err := s.policy.Decide(ctx, name); err != nil {
			return fmt.Errorf("%w: %q: %w", ErrNotAllowed, name, err)
		}
		return nil
	}
	return fmt.Errorf("%w: %q", ErrNotAllowed, name)
}

// admit joins the issuance of name in flight, or starts one within the
// cap and the rate limits.
func (s *state) admit(ctx context.Context, name string) (*flight, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.flights[name]; f != nil {
		return f, nil
	}
	if !s.onDemand[name] {
		if max := s.policy.MaxCertificates; max > 0 && len(s.onDemand) >= max && !s.releaseIdleLocked(time.Now()) {
			return nil, fmt.Errorf("%w: %w: %d on-demand certificates already, none idle", ErrRateLimited, errCap, max)
		}
		if err := s.limits.allow(name, time.Now()); err != nil {
			return nil, err
		}
		s.onDemand[name] = true
		v := new(atomic.Int64)
		v.Store(time.Now().UnixNano())
		s.lastUse.Store(name, v)
	}
	return s.startLocked(ctx, name, true), nil
}

// flightFor joins or starts the issuance of a configured name.
func (s *state) flightFor(ctx context.Context, name string, onDemand bool) *flight {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.flights[name]; f != nil {
		return f
	}
	return s.startLocked(ctx, name, onDemand)
}

// startLocked starts obtaining name in the background, apart from the
// handshake that asked (whose context values it keeps): other handshakes
// and the next connection of the same client benefit from it.
func (s *state) startLocked(ctx context.Context, name string, onDemand bool) *flight {
	f := &flight{done: make(chan struct{})}
	s.flights[name] = f
	timeout := DefaultIssueTimeout
	if s.policy != nil {
		timeout = s.policy.IssueTimeout
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	go func() {
		defer cancel()
		f.err = s.obtain(ictx, name, onDemand)
		s.mu.Lock()
		delete(s.flights, name)
		if f.err != nil && onDemand {
			delete(s.onDemand, name)
			s.lastUse.Delete(name)
		}
		s.mu.Unlock()
		close(f.done)
	}()
	return f
}

func (s *state) obtain(ctx context.Context, name string, onDemand bool) error {
	m := s.cfg.Manager
	if m.Lookup(name) != nil {
		return nil
	}
	if onDemand {
		mc, err := s.cfg.Certificate(name)
		if err != nil {
			return err
		}
		s.log.InfoContext(ctx, "obtaining on-demand certificate", "name", name)
		if err := m.Manage(ctx, mc); err != nil {
			return err
		}
		if m.Lookup(name) != nil {
			return nil // released earlier, loaded back from the store
		}
	}
	err := m.Renew(ctx, name)
	if err == nil && m.Lookup(name) == nil {
		err = fmt.Errorf("autotls: %s was renewed but the manager has no certificate for it", name)
	}
	if err != nil {
		s.neg.put(name, fmt.Errorf("autotls: obtaining %s failed recently: %w", name, err), time.Now())
		s.log.WarnContext(ctx, "certificate not obtained", "name", name, "on_demand", onDemand, "err", err)
	}
	if err != nil && onDemand {
		// Forget the name: the manager must not keep retrying a name
		// that a client made up.
		m.Unmanage(name)
	}
	return err
}

// wait waits for f, for at most the handshake wait and ctx.
func (s *state) wait(ctx context.Context, name string, f *flight) (*tls.Certificate, error) {
	wait := DefaultHandshakeWait
	if s.policy != nil {
		wait = s.policy.HandshakeWait
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-f.done:
	case <-t.C:
		return nil, fmt.Errorf("autotls: certificate for %q still being obtained after %v", name, wait)
	case <-ctx.Done():
		return nil, fmt.Errorf("autotls: certificate for %q: %w", name, ctx.Err())
	}
	if f.err != nil {
		return nil, f.err
	}
	if cert := s.cfg.Manager.Lookup(name); cert != nil {
		return cert, nil
	}
	return nil, fmt.Errorf("autotls: no certificate for %q", name)
}
