package engine

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/solver/solverset"
	"github.com/certkeeper/certkeeper/store"
)

// prepared is a lineage made ready to order: its manager.Spec and
// the solver set it uses.
type prepared struct {
	lineage store.Lineage
	spec    manager.Spec
	set     *solverset.Set
}

// Check validates l as Obtain and Renew use it, without building anything
// or sending anything: its names, key type, challenge types, solver
// settings, CSR and hooks. Every problem is reported at once.
func Check(l store.Lineage) error {
	var errs []error
	if err := l.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := issue.ParseIdentifiers(l.Identifiers...); err != nil && len(l.Identifiers) > 0 {
		errs = append(errs, err)
	}
	if l.KeyType != "" {
		if _, err := keys.ParseType(l.KeyType); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := acme.ResolveDirectory(l.CA); err != nil && l.CA != "" {
		errs = append(errs, err)
	}
	known := issue.DefaultPreference()
	for _, c := range l.Challenges {
		if !slices.Contains(known, acme.ChallengeType(c)) {
			errs = append(errs, fmt.Errorf("unknown challenge type %q (known: %v)", c, known))
		}
	}
	cfg, err := solverConfig(l)
	if err != nil {
		errs = append(errs, err)
	} else if v, ok := any(cfg).(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if l.CSR != "" {
		csr, err := parseCSR(l.CSR)
		if err != nil {
			errs = append(errs, err)
		} else if err := csrMatches(csr, l.Identifiers); err != nil {
			errs = append(errs, err)
		}
		if l.ReuseKey {
			errs = append(errs, errors.New("a CSR brings its own key: reuse_key does not apply"))
		}
	}
	for i, h := range l.Hooks {
		if h.Timeout != "" {
			if _, err := time.ParseDuration(h.Timeout); err != nil {
				errs = append(errs, fmt.Errorf("hook %d: timeout %q: %w", i, h.Timeout, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return &LocalError{What: "certificate " + quoteName(l.Name), Err: err}
	}
	return nil
}

func quoteName(n string) string {
	if n == "" {
		return `""`
	}
	return n
}

// solverConfig decodes the lineage's solver settings.
func solverConfig(l store.Lineage) (solverset.Config, error) {
	var cfg solverset.Config
	if len(l.Solvers) == 0 {
		return cfg, nil
	}
	if err := json.Unmarshal(l.Solvers, &cfg); err != nil {
		return cfg, fmt.Errorf("solver settings: %w", err)
	}
	return cfg, nil
}

// SetSolvers stores cfg in l.Solvers.
func SetSolvers(l *store.Lineage, cfg solverset.Config) error {
	data, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if string(data) == "{}" {
		data = nil
	}
	l.Solvers = data
	return nil
}

// IdentifiersFromCSR returns the names and IP addresses of the PEM (or DER)
// certificate signing request csr, for a certificate ordered with it alone.
func IdentifiersFromCSR(csr []byte) ([]string, error) {
	req, err := parseCSR(string(csr))
	if err != nil {
		return nil, err
	}
	ids := slices.Clone(req.DNSNames)
	for _, ip := range req.IPAddresses {
		ids = append(ids, ip.String())
	}
	if len(ids) == 0 && req.Subject.CommonName != "" {
		ids = append(ids, req.Subject.CommonName)
	}
	if len(ids) == 0 {
		return nil, errors.New("the CSR names no DNS name or IP address")
	}
	return ids, nil
}

func parseCSR(s string) (*x509.CertificateRequest, error) {
	data := []byte(s)
	if b, _ := pem.Decode(data); b != nil {
		data = b.Bytes
	}
	req, err := x509.ParseCertificateRequest(data)
	if err != nil {
		return nil, fmt.Errorf("CSR: %w", err)
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR: bad signature: %w", err)
	}
	return req, nil
}

// csrMatches checks that the CSR asks for exactly ids: a CA finalizes an
// order only with a CSR for its identifiers (RFC 8555 §7.4), and finding
// out then would be after validation.
func csrMatches(csr *x509.CertificateRequest, ids []string) error {
	have := slices.Clone(csr.DNSNames)
	for _, ip := range csr.IPAddresses {
		have = append(have, ip.String())
	}
	if len(have) == 0 && csr.Subject.CommonName != "" {
		have = []string{csr.Subject.CommonName}
	}
	if !store.SameIdentifiers(have, ids) {
		return fmt.Errorf("the CSR is for %s, not %s", strings.Join(have, ", "), strings.Join(ids, ", "))
	}
	return nil
}

// prepare makes l ready to order: its client, account source and solvers
// (one set per distinct solver configuration, shared by the certificates
// that use it, so that one built-in server answers for all of them).
func (e *Engine) prepare(l store.Lineage, opts AccountOptions) (*prepared, error) {
	return e.prepareFor(l, opts, true)
}

// prepareFor is prepare; without needSolvers, a lineage that configures
// no solver is made ready all the same, and fails only when an order is
// due (Renew: a certificate another program stored, valid for a while).
func (e *Engine) prepareFor(l store.Lineage, opts AccountOptions, needSolvers bool) (*prepared, error) {
	if err := Check(l); err != nil {
		return nil, err
	}
	ids, err := issue.ParseIdentifiers(l.Identifiers...)
	if err != nil {
		return nil, err
	}
	cl, err := e.Client(l.CA, l.CARoot)
	if err != nil {
		return nil, &LocalError{What: "CA " + l.CA, Err: err}
	}
	set, err := e.solverSet(l)
	if err != nil {
		return nil, err
	}
	noSolver := len(set.Solvers) == 0
	if noSolver && needSolvers {
		return nil, &LocalError{What: "certificate " + l.Name, Err: ErrNoSolver}
	}
	opts.ID = l.Account
	src := e.accountSource(l.CA, l.CARoot, opts)
	c := manager.Spec{
		Name:           l.Name,
		Identifiers:    ids,
		Issuer:         &issue.Issuer{Client: cl, Accounts: src, Solvers: set.Solvers, Preference: set.Preference, Logger: e.log},
		KeyType:        keys.Type(l.KeyType),
		ReuseKey:       l.ReuseKey,
		Profile:        l.Profile,
		PreferredChain: l.PreferredChain,
	}
	if l.CSR != "" {
		csr, err := parseCSR(l.CSR)
		if err != nil {
			return nil, err
		}
		c.CSR = csr.Raw
	}
	for _, h := range l.Hooks {
		// The hook goes without the secrets the solvers read, too.
		mh := manager.Hook{Command: h.Command, Args: h.Args, Unset: set.SecretEnv()}
		if h.Timeout != "" {
			mh.Timeout, _ = time.ParseDuration(h.Timeout)
		}
		for _, ev := range h.Events {
			mh.Events = append(mh.Events, manager.EventType(ev))
		}
		c.Hooks = append(c.Hooks, mh)
	}
	c.Prepare = func(ctx context.Context) (func(), error) {
		if noSolver {
			return nil, &LocalError{What: "certificate " + l.Name, Err: ErrNoSolver}
		}
		return e.hold(ctx, set)
	}
	return &prepared{lineage: l, spec: c, set: set}, nil
}

// solverSet builds (once per distinct configuration) the solvers of l.
func (e *Engine) solverSet(l store.Lineage) (*solverset.Set, error) {
	cfg, err := solverConfig(l)
	if err != nil {
		return nil, &LocalError{What: "certificate " + l.Name, Err: err}
	}
	key, _ := json.Marshal(struct {
		S solverset.Config
		C []string
	}{cfg, l.Challenges})
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.sets[string(key)]; s != nil {
		return s, nil
	}
	build := solverset.Build
	if e.cfg.BuildSolvers != nil {
		build = e.cfg.BuildSolvers
	}
	s, err := build(cfg, l.Challenges, e.cfg.SolverEnv)
	if err != nil {
		return nil, &LocalError{What: "certificate " + l.Name, Err: err}
	}
	e.sets[string(key)] = s
	var addrs []string
	if cfg.HTTP01 != nil && cfg.HTTP01.Listen != "" {
		addrs = append(addrs, cfg.HTTP01.Listen)
	}
	if cfg.TLSALPN01 != nil && cfg.TLSALPN01.Listen != "" {
		addrs = append(addrs, cfg.TLSALPN01.Listen)
	}
	e.setAddrs[s] = addrs
	return s, nil
}

// hold prepares set (its local checks, its listeners bound) for an order,
// unless another order holds it already, and returns the function that
// lets it go: the listeners are released when the last order using them
// ends. While one order prepares the set (it may wait for another
// process's lock on a listen address) or releases it, the others wait
// for that, without holding e.mu, and give up when ctx is done.
func (e *Engine) hold(ctx context.Context, set *solverset.Set) (func(), error) {
	for {
		e.mu.Lock()
		h := e.holds[set]
		if h == nil {
			h = &holdCount{}
			e.holds[set] = h
		}
		if busy := h.busy; busy != nil {
			e.mu.Unlock()
			select {
			case <-busy:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("engine: waiting for the solvers of another order: %w", context.Cause(ctx))
			}
		}
		if h.n > 0 {
			h.n++
			e.mu.Unlock()
			return e.release(set, h), nil
		}
		busy := make(chan struct{})
		h.busy = busy
		addrs := e.setAddrs[set]
		e.mu.Unlock()

		unlocks, err := e.prepareSet(ctx, set, addrs)
		e.mu.Lock()
		h.busy = nil
		close(busy)
		if err != nil {
			e.mu.Unlock()
			return nil, err
		}
		h.n, h.unlocks = 1, unlocks
		e.mu.Unlock()
		return e.release(set, h), nil
	}
}

// prepareSet takes the store's lock on each of addrs (another process
// ordering through the same store and the same port waits for it rather
// than fail on a busy port) and prepares set. It returns the locks'
// unlock functions.
func (e *Engine) prepareSet(ctx context.Context, set *solverset.Set, addrs []string) ([]func() error, error) {
	var unlocks []func() error
	for _, a := range addrs {
		unlock, err := e.cfg.Store.Lock(ctx, e.certs.ListenLock(a))
		if err != nil {
			unlockAll(unlocks)
			return nil, fmt.Errorf("engine: waiting for %s: %w", a, err)
		}
		unlocks = append(unlocks, unlock)
	}
	if err := set.Prepare(ctx); err != nil {
		unlockAll(unlocks)
		return nil, &LocalError{What: "solvers", Err: err}
	}
	return unlocks, nil
}

// release returns the function that lets one order's hold of set go.
func (e *Engine) release(set *solverset.Set, h *holdCount) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Lock()
			if h.n--; h.n > 0 {
				e.mu.Unlock()
				return
			}
			busy := make(chan struct{})
			h.busy = busy
			unlocks := h.unlocks
			h.unlocks = nil
			e.mu.Unlock()
			set.Close()
			unlockAll(unlocks)
			e.mu.Lock()
			h.busy = nil
			close(busy)
			e.mu.Unlock()
		})
	}
}

// holdCount is how many orders hold a solver set (see hold). Its fields
// are guarded by Engine.mu.
type holdCount struct {
	n       int
	busy    chan struct{}  // while the set is being prepared or released; closed then
	unlocks []func() error // the store's locks on the listen addresses
}

func unlockAll(unlocks []func() error) {
	for _, u := range unlocks {
		_ = u()
	}
}
