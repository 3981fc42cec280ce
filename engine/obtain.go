package engine

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
)

// NameChange says what Obtain may do to the names of a certificate the
// store already has under the same name.
type NameChange int

const (
	// NamesUnchanged refuses any change of names (a *NamesError).
	NamesUnchanged NameChange = iota
	// NamesExpand allows adding names, not dropping any.
	NamesExpand
	// NamesReplace allows any change.
	NamesReplace
)

// Request asks Obtain for one certificate.
type Request struct {
	// Lineage says how to obtain it, and is recorded so that renewals do
	// the same: CA (a directory URL, see acme.ResolveDirectory) and
	// Identifiers are required, unless CSR is set, whose names are then
	// used; Name defaults to the first identifier. Account defaults to
	// Account.ID; when neither names one, to the account the lineage the
	// store has for this certificate records, else "default".
	Lineage store.Lineage
	// Account registers the account if the store has none at the CA.
	Account AccountOptions
	// Key, if set, is the private key of this order (a key the user
	// brings; set Lineage.ReuseKey to keep it at renewals).
	Key crypto.Signer
	// Force orders even when a certificate with the same names is held
	// and not due for renewal.
	Force bool
	// Names says whether the names of a stored certificate of the same
	// name may change.
	Names NameChange
}

// Outcome says what became of one certificate.
type Outcome string

// The outcomes of Obtain and Renew.
const (
	// Obtained: a certificate was ordered and stored, the first for its
	// name or one with other names.
	Obtained Outcome = "obtained"
	// Renewed: a certificate replaced the one held, with the same names.
	Renewed Outcome = "renewed"
	// StillValid: the certificate held has the names asked for and is not
	// due for renewal; nothing was ordered.
	StillValid Outcome = "still_valid"
	// NotDue: Renew found the certificate not due; nothing was ordered.
	NotDue Outcome = "not_due"
	// Failed: see Result.Err.
	Failed Outcome = "failed"
)

// Result describes one certificate after Obtain or Renew.
type Result struct {
	Name        string
	CA          string
	Identifiers []string
	Outcome     Outcome
	// Serial (hexadecimal) and NotAfter of the certificate held
	// afterwards; empty when none is.
	Serial   string
	NotAfter time.Time
	// NextRenewal is when it will be renewed (by the rules Renew and the
	// daemon follow), or retried after a failure (Failures > 0).
	NextRenewal time.Time
	// Retrying says that NextRenewal is the next attempt after a failure
	// (manager.Status.Retrying), not the renewal time.
	Retrying bool
	// Err is the failure, for Failed.
	Err error
	// HookErr joins the failures of the hooks run for this certificate
	// (its deploy hooks, say): the certificate was stored, but not
	// deployed as asked.
	HookErr error
}

// NamesError says that Obtain was asked for other names than those of the
// certificate of the same name the store has, without leave to change
// them (Request.Names).
type NamesError struct {
	Name      string
	Have      []string
	Want      []string
	Expanding bool // Want holds every name of Have: NamesExpand would do
}

func (e *NamesError) Error() string {
	how := "allow replacing them"
	if e.Expanding {
		how = "allow adding names (expand)"
	}
	return fmt.Sprintf("certificate %q is for %s, not %s: %s, or give the new certificate another name",
		e.Name, strings.Join(e.Have, ", "), strings.Join(e.Want, ", "), how)
}

// Obtain makes sure the store holds a valid certificate as req describes:
// it checks everything it can locally first (the lineage, a writable
// store, the solvers' listeners and files, a CSR's names), records the
// lineage, and orders the certificate unless one with the same names is
// held and not due (or Force). Orders of one certificate are serialised
// by the store's lock, across processes: a second Obtain that waited for
// another's order takes its certificate and orders nothing.
//
// The lineage record is written before the order, so that a certificate
// that could not be obtained is listed with its error and retried by
// Renew and the daemon. Names of an existing certificate change only as
// req.Names allows (else a *NamesError, before anything is sent).
//
// The error is a *LocalError for a problem found before anything was
// sent, or the order's error (the CA's *acme.Problem, a
// *manager.RescuedError when the store refused the certificate issued).
func (e *Engine) Obtain(ctx context.Context, req Request) (Result, error) {
	l := req.Lineage
	if len(l.Identifiers) == 0 && l.CSR != "" {
		ids, err := IdentifiersFromCSR([]byte(l.CSR))
		if err != nil {
			return Result{}, &LocalError{What: "CSR", Err: err}
		}
		l.Identifiers = ids
	}
	// Names as the CA and the store know them: punycode, lower case,
	// each once.
	if ids, err := issue.ParseIdentifiers(l.Identifiers...); err == nil && len(ids) > 0 {
		l.Identifiers = l.Identifiers[:0:0]
		for _, id := range ids {
			if !slices.Contains(l.Identifiers, id.Value) {
				l.Identifiers = append(l.Identifiers, id.Value)
			}
		}
	}
	if l.Name != "" {
		if id, err := issue.ParseIdentifier(l.Name); err == nil {
			l.Name = id.Value
		}
	}
	if l.Name == "" && len(l.Identifiers) > 0 {
		l.Name = l.Identifiers[0]
	}
	l.Name = storedName(l.Name)
	if l.Account == "" && req.Account.ID == "" {
		// No account named: the one the certificate's lineage records,
		// if the store has the certificate.
		if old, err := e.certs.LoadLineage(ctx, l.CA, l.Name); err == nil && old.Account != "" {
			l.Account = old.Account
		}
	}
	if l.Account == "" {
		l.Account = req.Account.id()
	}
	if e.cfg.Layout == store.LayoutShared {
		// The shared layout holds one account (client.key).
		l.Account = "default"
	}
	res := Result{Name: l.Name, CA: l.CA, Identifiers: l.Identifiers, Outcome: Failed}
	if err := Check(l); err != nil {
		return res, err
	}
	if err := e.checkWritable(ctx); err != nil {
		return res, err
	}
	if err := e.checkSave(ctx, l); err != nil {
		return res, err
	}
	p, err := e.prepare(l, req.Account)
	if err != nil {
		return res, err
	}
	p.spec.Key = req.Key
	_, created, err := e.recordLineage(ctx, &p.lineage, req.Names)
	if err != nil {
		return res, err
	}
	if created {
		// A first obtain that fails leaves nothing behind: no record
		// that renew, the daemon or list would take for a wish.
		defer func() {
			if res.Outcome == Failed {
				e.forget(context.WithoutCancel(ctx), p.lineage)
			}
		}()
	}
	if err := e.m.Manage(ctx, p.spec); err != nil {
		return res, err
	}
	// The same certificate is asked for again when one is held for
	// exactly these names.
	st, _ := e.m.StatusOf(l.Name)
	before := st.Serial
	same := st.Serial != "" && store.SameIdentifiers(st.CertIdentifiers, l.Identifiers)
	if same && !req.Force {
		due, err := e.m.RenewIfDue(ctx, l.Name)
		if !due && err == nil {
			res = e.result(l, StillValid, nil)
			return res, nil
		}
		res, err = e.outcome(l, before, true, err)
		return res, err
	}
	err = e.m.Renew(ctx, l.Name)
	res, err = e.outcome(l, before, same, err)
	return res, err
}

// storedName returns name as the store keeps it (lower case, no
// trailing dot: store.EncodeName), so that "MyCert" and "mycert", one
// directory of the store, are one certificate to the lineage, the
// renewal state and the list too. A name the store cannot keep is
// returned as it is, for Check to refuse.
func storedName(name string) string {
	enc, err := store.EncodeName(name)
	if err != nil {
		return name
	}
	if n, err := store.DecodeName(enc); err == nil {
		return n
	}
	return name
}

// forget removes what a failed first Obtain of l recorded, unless a
// certificate was stored meanwhile (by another process).
func (e *Engine) forget(ctx context.Context, l store.Lineage) {
	st, ok := e.m.StatusOf(l.Name)
	if ok && st.Serial != "" {
		return
	}
	pending := ok && st.PendingOrder != ""
	if res, err := e.certs.LoadCertificate(ctx, l.CA, l.Name); err == nil && len(res.ChainPEM) > 0 {
		return
	}
	e.m.Unmanage(l.Name)
	if err := e.certs.DeleteLineage(ctx, l.CA, l.Name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.log.WarnContext(ctx, "cannot remove the lineage record of a certificate never obtained", "name", l.Name, "error", err)
	}
	// Its directory, if the record was all it held.
	if err := e.certs.RemoveEmptyDir(ctx, l.CA, l.Name); err != nil {
		e.log.WarnContext(ctx, "cannot remove the directory of a certificate never obtained", "name", l.Name, "error", err)
	}
	if pending {
		// An order interrupted (Ctrl-C): its renewal state keeps the
		// order's URL so that obtaining it again continues that order.
		// Without a lineage nothing lists or renews it.
		return
	}
	if k, err := e.certs.StateKey(l.CA, l.Name); err == nil {
		if err := e.cfg.Store.Delete(ctx, k); err != nil && !errors.Is(err, fs.ErrNotExist) {
			e.log.WarnContext(ctx, "cannot remove the renewal state of a certificate never obtained", "name", l.Name, "error", err)
		}
	}
}

// outcome makes the Result of an order that ended with err.
func (e *Engine) outcome(l store.Lineage, before string, same bool, err error) (Result, error) {
	if err != nil {
		return e.result(l, Failed, err), err
	}
	st, _ := e.m.StatusOf(l.Name)
	switch {
	case st.Serial == before:
		// Another instance is backing off for it, or the order was
		// skipped: nothing changed.
		return e.result(l, StillValid, nil), nil
	case before != "" && same:
		return e.result(l, Renewed, nil), nil
	}
	return e.result(l, Obtained, nil), nil
}

func (e *Engine) result(l store.Lineage, o Outcome, err error) Result {
	r := Result{Name: l.Name, CA: l.CA, Identifiers: l.Identifiers, Outcome: o, Err: err}
	e.mu.Lock()
	r.HookErr = errors.Join(e.hookErrs[l.Name]...)
	delete(e.hookErrs, l.Name)
	e.mu.Unlock()
	if st, ok := e.m.StatusOf(l.Name); ok {
		r.Serial, r.NotAfter, r.NextRenewal, r.Retrying = st.Serial, st.NotAfter, st.NextRenewal, st.Retrying
	}
	return r
}

// recordLineage writes l unless the store has the same, under the store's
// lock for the lineage, after checking that the names of the certificate
// stored under its name change only as names allows. It returns the
// names of the certificate stored before, nil if none.
func (e *Engine) recordLineage(ctx context.Context, l *store.Lineage, names NameChange) (have []string, created bool, err error) {
	lock, err := e.certs.LineageLock(l.CA, l.Name)
	if err != nil {
		return nil, false, &LocalError{What: "lineage", Err: err}
	}
	unlock, err := e.cfg.Store.Lock(ctx, lock)
	if err != nil {
		return nil, false, fmt.Errorf("engine: locking the lineage of %s: %w", l.Name, err)
	}
	defer unlock()
	old, err := e.certs.LoadLineage(ctx, l.CA, l.Name)
	switch {
	case err == nil:
		have = old.Identifiers
		l.Created = old.Created
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, store.ErrCorrupt):
		// A certificate stored before lineage records existed, or one
		// whose record is damaged: the user's request replaces it.
		if errors.Is(err, store.ErrCorrupt) {
			e.log.WarnContext(ctx, "the lineage record cannot be read; replacing it", "name", l.Name, "ca", l.CA, "error", err)
		}
		if res, lerr := e.certs.LoadCertificate(ctx, l.CA, l.Name); lerr == nil && len(res.ChainPEM) > 0 {
			have = res.Identifiers
		} else {
			created = errors.Is(err, fs.ErrNotExist)
		}
	default:
		return nil, false, err
	}
	if have != nil && !store.SameIdentifiers(have, l.Identifiers) {
		expanding := containsAll(l.Identifiers, have)
		if names == NamesUnchanged || names == NamesExpand && !expanding {
			return nil, false, &LocalError{What: "names", Err: &NamesError{Name: l.Name, Have: have, Want: l.Identifiers, Expanding: expanding}}
		}
	}
	now := time.Now().UTC()
	if l.Created.IsZero() {
		l.Created = now
	}
	if err == nil && sameLineage(old, *l) {
		l.Updated = old.Updated
		return have, false, nil
	}
	l.Updated = now
	if err := e.certs.SaveLineage(ctx, *l); err != nil {
		return nil, false, &LocalError{What: "store", Err: err}
	}
	return have, created, nil
}

// sameLineage compares two records but for their times.
func sameLineage(a, b store.Lineage) bool {
	a.Created, a.Updated, a.Version = time.Time{}, time.Time{}, 0
	b.Created, b.Updated, b.Version = time.Time{}, time.Time{}, 0
	return reflect.DeepEqual(a, b)
}

// containsAll reports whether every name of sub is in set.
func containsAll(set, sub []string) bool {
	for _, s := range sub {
		if !slices.ContainsFunc(set, func(x string) bool { return strings.EqualFold(x, s) }) {
			return false
		}
	}
	return true
}

var _ = manager.ErrNotManaged
