package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
)

// ManageOptions say what Manage hands to the manager besides the lineages
// it is given.
type ManageOptions struct {
	// Account registers an account where the store has none at a CA
	// (each lineage names its account; ID is ignored). Its contacts and
	// external account binding apply to the accounts of the lineages
	// given only: a stored lineage's account keeps its contacts, and
	// gets the binding only at a CA of the lineages given.
	Account AccountOptions
	// Stored also manages every other certificate the store holds
	// (obtained with Obtain, by the command line, by another program),
	// each as its lineage record says (see Lineages). A stored
	// certificate with the name of one given is left out, as is any
	// but the first (by CA) of stored certificates of one name.
	Stored bool
	// DefaultCA is the CA of certificates the store holds without saying
	// (the shared layout), for Stored.
	DefaultCA string
	// DefaultSolvers, if set, is called for each stored lineage that
	// records no solver (a certificate stored before lineage records
	// existed, or by another program): it may set the lineage's Solvers
	// and Challenges, for this engine only; they are not recorded.
	DefaultSolvers func(*store.Lineage)
	// StoredHooks run on the events of each stored certificate managed
	// (Stored), before the hooks its lineage records, for this engine
	// only: they are not recorded, so a front end that renews the
	// certificate from its lineage (certkeeper renew) does not run
	// them. A hook its lineage records already (the same command,
	// arguments, events and timeout) is not added again, so that it runs
	// once per event. The lineages given carry their own hooks.
	StoredHooks []store.LineageHook
}

// Managed says what Manage handed to the manager.
type Managed struct {
	// Given are the lineages given to Manage, as recorded.
	Given []store.Lineage
	// Stored are the store's other lineages managed (ManageOptions.Stored).
	Stored []store.Lineage
	// Skipped are the store's lineages not managed, each a Failed Result
	// whose Err says why: its record cannot be read or used (a
	// *LocalError; ErrNoSolver for one that records no solver), or
	// another certificate of its name is managed (ErrNameTaken). A
	// record that cannot be read at all has only Err.
	Skipped []Result
	// Unmanaged names the certificates the previous Manage managed and
	// this one does not.
	Unmanaged []string
}

// ErrNameTaken says that a stored certificate is not managed because
// another of the same name (at another CA) is: the manager serves and
// renews one certificate per name.
var ErrNameTaken = errors.New("another certificate of the same name is managed")

// Manage makes the engine's manager keep exactly these certificates, and
// with opts.Stored every other one the store holds, valid: Run (or
// Manager().Run) obtains what is missing and renews each on its schedule,
// and Manager().Lookup serves them.
//
// Each lineage given is checked (Check, and its solvers built, without
// binding anything), then recorded in the store as given: the caller is
// authoritative for it, so its names may change (as NamesReplace) and
// the record of the same CA and name is replaced. Name defaults to the
// first identifier and Account to opts.Account's. If any lineage given is
// unusable, or two have one name, Manage changes nothing and returns
// every problem joined (each a *LocalError).
//
// Nothing is sent to any CA: the certificates the store holds are loaded
// and served at once, and accounts are loaded or registered at the first
// order (see Account). A CA that cannot be reached fails the orders,
// which the manager retries on its backoff schedule; the engine logs, at
// each such failure, that the CA is unreachable.
//
// Calling Manage again (a configuration reloaded) replaces what the
// previous call managed: certificates no longer in it are no longer
// renewed nor served (their files stay), the others take their new
// settings, orders under way finish. Calls are serialised.
func (e *Engine) Manage(ctx context.Context, lineages []store.Lineage, opts ManageOptions) (Managed, error) {
	e.manageMu.Lock()
	defer e.manageMu.Unlock()
	var (
		out     Managed
		errs    []error
		given   []*prepared
		names   = map[string]bool{}
		cas     = map[string]bool{}
		givenAt = map[[2]string]bool{} // CA and name of the lineages given
	)
	for _, l := range lineages {
		if l.Name == "" && len(l.Identifiers) > 0 {
			l.Name = l.Identifiers[0]
		}
		l.Name = storedName(l.Name)
		if l.Account == "" {
			l.Account = opts.Account.id()
		}
		if names[l.Name] {
			errs = append(errs, &LocalError{What: "certificate " + quoteName(l.Name), Err: errors.New("given twice")})
			continue
		}
		names[l.Name] = true
		cas[l.CA] = true
		givenAt[[2]string{l.CA, l.Name}] = true
		acct := opts.Account
		acct.ID = l.Account
		if err := Check(l); err != nil {
			errs = append(errs, err)
			continue
		}
		e.updateAccountOptions(l.CA, l.CARoot, acct)
		p, err := e.prepare(l, acct)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		given = append(given, p)
	}
	if err := errors.Join(errs...); err != nil {
		return Managed{}, err
	}
	for _, p := range given {
		if _, _, err := e.recordLineage(ctx, &p.lineage, NamesReplace); err != nil {
			return Managed{}, fmt.Errorf("recording the lineage of %s: %w", p.lineage.Name, err)
		}
		out.Given = append(out.Given, p.lineage)
	}

	all := slices.Clone(given)
	if opts.Stored {
		stored, err := e.Lineages(ctx, "", opts.DefaultCA)
		if err != nil {
			if stored == nil {
				return Managed{}, fmt.Errorf("listing the store's certificates: %w", err)
			}
			for _, err := range unjoin(err) {
				out.Skipped = append(out.Skipped, Result{Outcome: Failed, Err: err})
			}
		}
		for _, l := range stored {
			if givenAt[[2]string{l.CA, l.Name}] {
				continue // given, and recorded just now
			}
			if names[l.Name] {
				out.Skipped = append(out.Skipped, failed(l, fmt.Errorf("%w: %q", ErrNameTaken, l.Name)))
				continue
			}
			if len(l.Solvers) == 0 && opts.DefaultSolvers != nil {
				opts.DefaultSolvers(&l)
			}
			acct := opts.Account
			acct.Contact = nil
			if !cas[l.CA] {
				acct.EABKeyID, acct.EABHMAC = "", nil
			}
			run := l
			run.Hooks = withHooks(opts.StoredHooks, l.Hooks)
			p, err := e.prepare(run, acct)
			if err != nil {
				out.Skipped = append(out.Skipped, failed(l, err))
				continue
			}
			names[l.Name] = true
			all = append(all, p)
			out.Stored = append(out.Stored, l)
		}
	}

	certs := make([]manager.Spec, len(all))
	for i, p := range all {
		certs[i] = p.spec
	}
	if err := e.m.Manage(ctx, certs...); err != nil {
		return Managed{}, err
	}
	for _, n := range e.managed {
		if !names[n] {
			out.Unmanaged = append(out.Unmanaged, n)
		}
	}
	if len(out.Unmanaged) > 0 {
		e.m.Unmanage(out.Unmanaged...)
	}
	e.managed = e.managed[:0]
	for _, p := range all {
		e.managed = append(e.managed, p.lineage.Name)
	}
	return out, nil
}

// Run keeps the certificates Manage handed to the manager valid until ctx
// is done (manager.Manager.Run); Manage may be called again meanwhile.
func (e *Engine) Run(ctx context.Context) error { return e.m.Run(ctx) }

// AccountSource returns the account opts names at the CA with directory
// URL ca (trusting caRoot for its API, see Client) as the
// issue.AccountSource of an issue.Issuer built by the caller (autotls,
// "certkeeper serve"): loaded from the store or registered at its first
// use, as Account does, then kept, and registered anew when the CA says
// it no longer knows it. Nothing is sent before that first use. The
// lineages of that CA and account share it.
func (e *Engine) AccountSource(ca, caRoot string, opts AccountOptions) issue.AccountSource {
	return e.accountSource(ca, caRoot, opts)
}

// updateAccountOptions gives the account source of (ca, caRoot, opts.ID),
// if there is one, the options opts: a configuration reloaded may agree
// to the terms now, or change the contacts, which the next order then
// applies.
func (e *Engine) updateAccountOptions(ca, caRoot string, opts AccountOptions) {
	e.mu.Lock()
	s := e.accounts[accountKey{ca, caRoot, opts.id()}]
	e.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !reflect.DeepEqual(s.opts, opts) {
		s.opts, s.acct = opts, nil
	}
}

// onEvent observes the manager's events before next: it says so when an
// order failed because a CA could not be reached at all (for every front
// end: the daemon, serve, obtain and renew).
func (e *Engine) onEvent(next func(manager.Event)) func(manager.Event) {
	return func(ev manager.Event) {
		if ev.Type == manager.EventHookFailed {
			e.mu.Lock()
			errs := append(e.hookErrs[ev.Name], ev.Err)
			if len(errs) > 5 { // a daemon's failing hook: the last few
				errs = errs[len(errs)-5:]
			}
			e.hookErrs[ev.Name] = errs
			e.mu.Unlock()
		}
		if ev.Type == manager.EventFailed {
			if ca, ok := e.unreachableCA(ev.Err); ok {
				e.log.Warn("the CA is unreachable: nothing was ordered, the certificate held (if any) is kept, the next attempt is at next_attempt (the backoff schedule)",
					"ca", ca, "name", ev.Name, "failures", ev.Attempt, "next_attempt", ev.NextAttempt, "error", ev.Err)
			}
		}
		if next != nil {
			next(ev)
		}
	}
}

// unreachableCA reports whether err is the failure to get any answer from
// one of the engine's CAs (not a problem the CA answered, nor a CA
// certificate that does not verify), and which.
func (e *Engine) unreachableCA(err error) (string, bool) {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) || !acme.IsRetryable(err) {
		return "", false
	}
	var p *acme.Problem
	if errors.As(err, &p) {
		return "", false
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return "", false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.clients {
		if cu, err := url.Parse(k.ca); err == nil && cu.Host == u.Host {
			return k.ca, true
		}
	}
	return "", false
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// withHooks returns extra followed by own, leaving out each hook of extra
// that own holds already (sameHook).
func withHooks(extra, own []store.LineageHook) []store.LineageHook {
	if len(extra) == 0 {
		return own
	}
	out := make([]store.LineageHook, 0, len(extra)+len(own))
	for _, h := range extra {
		if !slices.ContainsFunc(own, func(o store.LineageHook) bool { return sameHook(h, o) }) {
			out = append(out, h)
		}
	}
	return append(out, own...)
}

// sameHook reports whether a and b run the same command on the same
// events with the same timeout ("1m" is "60s"); an empty list is the
// same as none.
func sameHook(a, b store.LineageHook) bool {
	sameTimeout := a.Timeout == b.Timeout
	if !sameTimeout {
		da, erra := time.ParseDuration(a.Timeout)
		db, errb := time.ParseDuration(b.Timeout)
		sameTimeout = erra == nil && errb == nil && da == db
	}
	return sameTimeout && a.Command == b.Command &&
		slices.Equal(a.Args, b.Args) && slices.Equal(a.Events, b.Events)
}
