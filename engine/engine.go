// Package engine is the one engine behind every front end of certkeeper:
// the command line's obtain and renew, the daemon, serve, and Go programs
// that want what they do.
//
// It joins the layers below it: a certificate's lineage record
// (store.Lineage: how it was obtained) becomes a manager.Spec with
// its CA client, its account and its solvers, and the manager orders,
// stores and schedules it under the store's per-certificate lock. What the
// engine adds is what every front end needs the same way:
//
//   - accounts loaded, or registered and stored (the key before the
//     registration, so nothing registered is ever lost), and registered
//     anew when the CA no longer knows them (Account, AccountOptions);
//   - obtaining a certificate once, recording its lineage, refusing to
//     change its names silently, and not ordering one that is still valid
//     (Obtain);
//   - renewing whatever is due, each certificate exactly as it was
//     obtained, by the same policy the daemon follows (Renew);
//   - revoking a certificate of the store, or one given, with the account
//     that obtained it or its own key, nothing sent unless the store can
//     record the revocation, and a revocation the CA had already made
//     recorded (Revoke);
//   - describing every certificate of the store for an operator, the
//     ones wanted but never obtained included, with its status, its next
//     renewal as it will really happen, its last error and its files,
//     reading the store only (List);
//   - checking locally, before any request to the CA, everything that can
//     be: a writable store, listeners that bind, a webroot that exists, a
//     CSR whose names match;
//   - keeping certificates valid for as long as a program runs (Manage,
//     then Run: the daemon, serve): the lineages given recorded, every
//     other lineage of the store taken along, nothing asked of the CA
//     before an order is due, an unreachable CA retried and said so.
package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/internal/redact"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/solver/solverset"
	"github.com/certkeeper/certkeeper/store"
)

// Config configures an Engine. Its fields are read by New and must not be
// changed afterwards.
type Config struct {
	// Store holds certificates, accounts, lineage records and renewal
	// state. Required.
	Store store.Store
	// Layout of the certificates in Store.
	Layout store.Layout
	// Manager holds the renewal policy, the global hooks, metrics and the
	// clock (see manager.Config); its Store, Layout and Logger are set
	// from this Config.
	Manager manager.Config
	// Logger receives what the engine, the manager, the ACME clients and
	// the solvers do; nil discards it.
	Logger *slog.Logger
	// SolverEnv is what solvers built from lineage records take from the
	// program (the variables that name secrets, hook output).
	SolverEnv solverset.Env
	// HTTPClient returns the HTTP client that speaks to a CA whose API
	// certificate chains to the roots in the PEM file caRoot ("" for the
	// system's roots). Nil means a client with a 60 s timeout per
	// request, built by the engine.
	HTTPClient func(caRoot string) (*http.Client, error)
	// UserAgent is appended to the ACME User-Agent (RFC 8555 §6.1).
	UserAgent string
	// OnRequest, if set, observes every ACME request (acme.Client).
	OnRequest func(acme.RequestInfo)
	// BuildSolvers, if set, builds the solvers of a lineage instead of
	// solverset.Build (which it is given the same arguments as, env
	// being SolverEnv): a cluster answers the built-in servers'
	// challenges from the store its instances share. It is called once
	// per distinct solver configuration and challenge list.
	BuildSolvers func(cfg solverset.Config, challenges []string, env solverset.Env) (*solverset.Set, error)
	// AllowHTTPCA lets Client speak to a CA whose directory URL is plain
	// http://, for tests against a local CA only: without TLS anyone on
	// the path could hand out challenges and certificates, and read the
	// account's requests. False refuses such a URL (ErrPlainHTTPCA).
	AllowHTTPCA bool
}

// ErrPlainHTTPCA is the error of Client for an http:// directory URL
// unless Config.AllowHTTPCA.
var ErrPlainHTTPCA = errors.New("engine: the CA directory URL is plain http://; use https:// (a plain-HTTP CA is allowed only for testing)")

// Engine obtains and renews certificates described by lineage records. Make
// one with New; its methods are safe for concurrent use.
type Engine struct {
	cfg   Config
	certs *store.Certs
	m     *manager.Manager
	log   *slog.Logger

	mu       sync.Mutex
	clients  map[clientKey]*acme.Client
	accounts map[accountKey]*accountSource
	sets     map[string]*solverset.Set
	holds    map[*solverset.Set]*holdCount
	// hookErrs collects the hook failures of each certificate since its
	// last Obtain or Renew began (Result.HookErr).
	hookErrs map[string][]error
	// setAddrs are the listen addresses of each solver set, locked in
	// the store while it holds them.
	setAddrs map[*solverset.Set][]string

	// manageMu serialises Manage; managed names what the last Manage
	// handed to the manager.
	manageMu sync.Mutex
	managed  []string
}

type clientKey struct{ ca, root string }

// New returns an Engine for cfg. It starts nothing and sends nothing.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("engine: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SolverEnv.Logger == nil {
		cfg.SolverEnv.Logger = cfg.Logger
	}
	e := &Engine{
		cfg:      cfg,
		certs:    &store.Certs{Store: cfg.Store, Layout: cfg.Layout},
		log:      cfg.Logger,
		clients:  map[clientKey]*acme.Client{},
		accounts: map[accountKey]*accountSource{},
		sets:     map[string]*solverset.Set{},
		holds:    map[*solverset.Set]*holdCount{},
		hookErrs: map[string][]error{},
		setAddrs: map[*solverset.Set][]string{},
	}
	mc := cfg.Manager
	mc.Store, mc.Layout, mc.Logger = cfg.Store, cfg.Layout, cfg.Logger
	mc.OnEvent = e.onEvent(cfg.Manager.OnEvent)
	m, err := manager.New(mc)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.m = m
	return e, nil
}

// Manager returns the engine's manager: Lookup serves the certificates it
// holds, Status describes them, Run keeps them renewed.
func (e *Engine) Manager() *manager.Manager { return e.m }

// Certs returns the typed view of the engine's store.
func (e *Engine) Certs() *store.Certs { return e.certs }

// Client returns the ACME client for the directory URL ca, trusting the
// roots in the PEM file caRoot for its API ("" for the system's roots):
// one client per CA, so that nonces and the directory are shared.
func (e *Engine) Client(ca, caRoot string) (*acme.Client, error) {
	if u, err := url.Parse(ca); err == nil && strings.EqualFold(u.Scheme, "http") && !e.cfg.AllowHTTPCA {
		return nil, fmt.Errorf("%w: %s", ErrPlainHTTPCA, redact.URL(ca))
	}
	k := clientKey{ca, caRoot}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.clients[k]; c != nil {
		return c, nil
	}
	var hc *http.Client
	var err error
	if e.cfg.HTTPClient != nil {
		hc, err = e.cfg.HTTPClient(caRoot)
	} else {
		hc, err = DefaultHTTPClient(caRoot)
	}
	if err != nil {
		return nil, err
	}
	c := &acme.Client{DirectoryURL: ca, HTTPClient: hc, UserAgent: e.cfg.UserAgent, Logger: e.log, OnRequest: e.cfg.OnRequest}
	e.clients[k] = c
	return c, nil
}

// DefaultHTTPClient returns the HTTP client the engine uses for a CA when
// Config.HTTPClient is nil: a 60 s limit per request and, if caRoot names
// a PEM file, only its certificates as roots (a private CA), TLS 1.2 or
// later.
func DefaultHTTPClient(caRoot string) (*http.Client, error) {
	hc := &http.Client{Timeout: 60 * time.Second}
	if caRoot == "" {
		return hc, nil
	}
	data, err := os.ReadFile(caRoot)
	if err != nil {
		return nil, fmt.Errorf("engine: reading the CA's roots: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("engine: %s holds no PEM certificate", caRoot)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	hc.Transport = tr
	return hc, nil
}

// Close releases what the engine holds: the listeners its solvers bound
// in advance.
func (e *Engine) Close() error {
	// Orders under way (a command interrupted) are cancelled and wound
	// down: challenges cleaned up, locks released.
	ctx, cancel := context.WithTimeout(context.Background(), issue.DefaultCleanUpTimeout+5*time.Second)
	cerr := e.m.Close(ctx)
	cancel()
	e.mu.Lock()
	sets := e.sets
	e.sets = map[string]*solverset.Set{}
	e.mu.Unlock()
	errs := []error{cerr}
	for _, s := range sets {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// checkWritable fails if the store cannot be written, before anything is
// ordered.
func (e *Engine) checkWritable(ctx context.Context) error {
	w, ok := e.cfg.Store.(interface{ CheckWritable(context.Context) error })
	if !ok {
		return nil
	}
	if err := w.CheckWritable(ctx); err != nil {
		return &LocalError{What: "store", Err: err}
	}
	return nil
}

// checkSave fails if the store could not keep a certificate for l, before
// anything is ordered (store.Certs.CheckSave: something it cannot replace
// where it makes the certificate current).
func (e *Engine) checkSave(ctx context.Context, l store.Lineage) error {
	if err := e.certs.CheckSave(ctx, l.CA, l.Name); err != nil {
		return &LocalError{What: "store", Err: err}
	}
	return nil
}

// ErrNoSolver says that a lineage configures no challenge solver.
var ErrNoSolver = errors.New("no challenge solver configured")

// LocalError is a problem found before any request to the CA: a store that
// cannot be written, a listener that cannot bind, a CSR that does not
// match, a setting that cannot work. What names the setting.
type LocalError struct {
	What string
	Err  error
}

func (e *LocalError) Error() string {
	msg := e.Err.Error()
	if strings.HasPrefix(msg, e.What+": ") {
		return msg
	}
	return e.What + ": " + msg
}
func (e *LocalError) Unwrap() error { return e.Err }

func (e *Engine) now() time.Time {
	if c := e.cfg.Manager.Clock; c != nil {
		return c.Now()
	}
	return time.Now()
}

// DetectLayout tells the layout of an existing store (store.DetectLayout):
// LayoutShared when it holds the shared layout's account key
// ("client.key" at its top) or certkeeper's records of that layout, else
// LayoutStandard. A store in the shared layout with neither (only
// "<name>.pem" files) is not recognised: name its layout.
func DetectLayout(ctx context.Context, s store.Store) (store.Layout, error) {
	return store.DetectLayout(ctx, s)
}
