package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"

	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// RenewOptions say which certificates Renew looks at and how.
type RenewOptions struct {
	// Names, if not empty, limits Renew to the certificates of these
	// names; a name the store does not have is a failed Result.
	Names []string
	// CA, if set (a directory URL), limits Renew to that CA's
	// certificates.
	CA string
	// Force renews every certificate looked at, due or not.
	Force bool
	// Override, if set, changes each lineage for this run (settings given
	// on a command line); an error fails that certificate.
	Override func(*store.Lineage) error
	// UpdateLineage stores the overridden lineages, so later renewals do
	// the same.
	UpdateLineage bool
	// Account registers an account where the store has none (each
	// lineage names its account; ID is ignored).
	Account AccountOptions
	// DefaultCA is the CA of certificates the store has without a CA
	// (the shared layout: files other programs wrote, or empty
	// "<name>.pem" files that ask for a certificate).
	DefaultCA string
}

// Renew renews every certificate of the store that is due (or all, with
// Force), each exactly as its lineage record says it was obtained, by the
// rules the daemon follows (manager.RenewIfDue), at most
// manager.Config.Concurrency at a time. Certificates stored before
// lineage records existed are renewed from what the store knows of them
// (CA, names, key type, profile) with Override supplying the solvers;
// UpdateLineage records that.
//
// It returns one Result per certificate looked at, sorted by CA and name;
// the error is for a failure to read the store at all, or joins the
// errors of certificates whose lineage cannot be read. Check each Result's
// Outcome for Failed.
func (e *Engine) Renew(ctx context.Context, opts RenewOptions) ([]Result, error) {
	lineages, held, loadErr := e.lineages(ctx, opts.CA, opts.DefaultCA)
	if lineages == nil && loadErr != nil {
		return nil, loadErr
	}
	loadErr = e.withoutLineaged(lineages, held, loadErr)
	var results []Result
	if len(opts.Names) > 0 {
		var keep []store.Lineage
		for _, n := range opts.Names {
			i := slices.IndexFunc(lineages, func(l store.Lineage) bool { return l.Name == n })
			if i < 0 {
				results = append(results, Result{Name: n, Outcome: Failed, Err: &NoCertificateError{Name: n}})
				continue
			}
			for _, l := range lineages {
				if l.Name == n {
					keep = append(keep, l)
				}
			}
		}
		lineages = keep
	}
	var ps []*prepared
	for _, l := range lineages {
		if opts.Override != nil {
			if err := opts.Override(&l); err != nil {
				results = append(results, failed(l, err))
				continue
			}
		}
		p, err := e.prepareFor(l, opts.Account, false)
		if err != nil {
			results = append(results, failed(l, err))
			continue
		}
		if opts.UpdateLineage {
			// Under the lineage's lock, with its times, as Obtain.
			if _, _, err := e.recordLineage(ctx, &p.lineage, NamesReplace); err != nil {
				results = append(results, failed(l, err))
				continue
			}
		}
		ps = append(ps, p)
	}
	// The manager knows a certificate by its name: the same name at two
	// CAs is renewed in rounds, one of each name at a time.
	for len(ps) > 0 {
		var round, later []*prepared
		seen := map[string]bool{}
		for _, p := range ps {
			if seen[p.lineage.Name] {
				later = append(later, p)
				continue
			}
			seen[p.lineage.Name] = true
			round = append(round, p)
		}
		results = append(results, e.renewRound(ctx, round, opts)...)
		if len(later) > 0 {
			for _, p := range round {
				e.m.Unmanage(p.lineage.Name)
			}
		}
		ps = later
	}
	slices.SortFunc(results, func(a, b Result) int { return byCAName(a.CA, a.Name, b.CA, b.Name) })
	return results, loadErr
}

// withoutLineaged leaves out of err, the errors of what lineages could not
// read, those of certificates that have a lineage record (by their key:
// store.CertificateError): Renew looks at each of them, and its Result
// says how that went (a certificate that cannot be read is obtained again
// and its save repairs what it can), so that each certificate counts once.
func (e *Engine) withoutLineaged(ls []store.Lineage, held heldCerts, err error) error {
	if err == nil {
		return nil
	}
	theirs := map[string]bool{}
	for _, l := range ls {
		if _, ok := held.certs[certKey{l.CA, l.Name}]; ok {
			continue
		}
		if k, kerr := e.certs.CertificateKey(l.CA, l.Name); kerr == nil {
			theirs[k] = true
		}
	}
	var keep []error
	for _, part := range flatten(err) {
		var ce *store.CertificateError
		if !errors.As(part, &ce) || !theirs[ce.Key] {
			keep = append(keep, part)
		}
	}
	return errors.Join(keep...)
}

// flatten returns the errors that err joins, and those they join, or err.
func flatten(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

func failed(l store.Lineage, err error) Result {
	return Result{Name: l.Name, CA: l.CA, Identifiers: l.Identifiers, Outcome: Failed, Err: err}
}

func (e *Engine) concurrency() int {
	if c := e.cfg.Manager.Concurrency; c > 0 {
		return c
	}
	return 4
}

// Lineages returns the lineage records of the store's certificates, of
// the CA with directory URL ca or of every CA if ca is "", sorted by CA
// and name. A certificate stored without a lineage record (by a version
// of certkeeper that wrote none, or by another program in the shared
// layout, including an empty "<name>.pem" asking for a certificate) gets
// one made from what the store knows: its CA (defaultCA when the store
// does not say), names, key type and profile, the only account the store
// has at that CA (else "default"), and no solvers. In the shared layout,
// which keeps one file per name and no CA, a file whose name has a
// lineage record is that record's certificate, whatever its CA. Records
// and certificates that cannot be read are left out and their errors
// joined.
func (e *Engine) Lineages(ctx context.Context, ca, defaultCA string) ([]store.Lineage, error) {
	ls, _, err := e.lineages(ctx, ca, defaultCA)
	return ls, err
}

// heldCerts is what lineages found besides the lineages: the
// certificates the store holds, by the CA and name of their lineage, and
// which lineages were made up for certificates stored without one.
type heldCerts struct {
	certs  map[certKey]store.CertRecord
	madeUp map[certKey]bool
}

// certKey names a stored certificate: its CA (the lineage's) and name.
type certKey struct{ ca, name string }

// lineages is Lineages, with the certificates the store holds.
func (e *Engine) lineages(ctx context.Context, ca, defaultCA string) ([]store.Lineage, heldCerts, error) {
	var errs []error
	ls, err := e.certs.ListLineages(ctx, ca)
	if err != nil {
		if ls == nil && !isJoined(err) {
			return nil, heldCerts{}, err
		}
		errs = append(errs, err)
	}
	type key = certKey
	have := map[key]bool{}
	for _, l := range ls {
		have[key{l.CA, l.Name}] = true
	}
	res, err := e.certs.ListCertificates(ctx, ca)
	if err != nil {
		if res == nil && !isJoined(err) {
			return nil, heldCerts{}, errors.Join(append(errs, err)...)
		}
		errs = append(errs, err)
	}
	held := heldCerts{certs: make(map[key]store.CertRecord, len(res)), madeUp: map[key]bool{}}
	for _, r := range res {
		c := r.CA
		if c == "" && e.cfg.Layout == store.LayoutShared {
			// The shared layout keeps no CA and one file per name: the
			// file is the certificate of the lineage of its name,
			// whatever its CA (even outside ca, or a record that cannot
			// be read, whose error ListLineages gave).
			l, err := e.certs.LoadLineage(ctx, defaultCA, r.Name)
			switch {
			case err == nil:
				c = l.CA
			case !errors.Is(err, fs.ErrNotExist):
				continue
			}
		}
		if c == "" {
			c = defaultCA
		}
		if c == "" {
			errs = append(errs, fmt.Errorf("certificate %q: the store does not say which CA it comes from: give the CA", r.Name))
			continue
		}
		if ca != "" && c != ca {
			continue
		}
		held.certs[key{c, r.Name}] = r
		if have[key{c, r.Name}] {
			continue
		}
		l := e.madeUpLineage(&r, c, e.onlyAccount(ctx, c))
		have[key{c, r.Name}] = true
		held.madeUp[key{c, r.Name}] = true
		ls = append(ls, l)
	}
	slices.SortFunc(ls, func(a, b store.Lineage) int { return byCAName(a.CA, a.Name, b.CA, b.Name) })
	return ls, held, errors.Join(errs...)
}

// madeUpLineage is the lineage of a certificate stored without one (see
// Lineages), from the CA with directory URL ca, ordered by account.
func (e *Engine) madeUpLineage(r *store.CertRecord, ca, account string) store.Lineage {
	l := store.Lineage{Name: r.Name, CA: ca, Identifiers: r.Identifiers, Profile: r.Profile, Account: account}
	if len(l.Identifiers) == 0 {
		l.Identifiers = []string{r.Name}
	}
	if r.Key != nil {
		if t, err := keys.TypeOf(r.Key.Public()); err == nil {
			l.KeyType = string(t)
		}
	}
	return l
}

// onlyAccount returns the ID of the only account the store has at ca, or
// "default".
func (e *Engine) onlyAccount(ctx context.Context, ca string) string {
	accts, err := e.certs.ListAccounts(ctx, ca)
	if err == nil && len(accts) == 1 && accts[0].ID != "" {
		return accts[0].ID
	}
	return "default"
}

func isJoined(err error) bool {
	_, ok := err.(interface{ Unwrap() []error })
	return ok && !errors.Is(err, fs.ErrNotExist)
}

// byCAName orders by CA, then name.
func byCAName(caA, nameA, caB, nameB string) int {
	return cmp.Or(cmp.Compare(caA, caB), cmp.Compare(nameA, nameB))
}

// renewRound renews the certificates of ps, whose names are distinct, that
// are due (or all, with opts.Force).
func (e *Engine) renewRound(ctx context.Context, ps []*prepared, opts RenewOptions) []Result {
	var results []Result
	certs := make([]*prepared, 0, len(ps))
	for _, p := range ps {
		if err := e.m.Manage(ctx, p.spec); err != nil {
			results = append(results, failed(p.lineage, err))
			continue
		}
		certs = append(certs, p)
	}
	// What is due decides which solvers must be ready: nothing binds a
	// port when nothing is due.
	var due []*prepared
	for _, p := range certs {
		if opts.Force {
			due = append(due, p)
			continue
		}
		when, err := e.m.DueAt(ctx, p.lineage.Name)
		if err != nil {
			results = append(results, failed(p.lineage, err))
			continue
		}
		if e.now().Before(when) {
			results = append(results, e.result(p.lineage, NotDue, nil))
			continue
		}
		due = append(due, p)
	}
	if len(due) > 0 {
		if err := e.checkWritable(ctx); err != nil {
			for _, p := range due {
				results = append(results, failed(p.lineage, err))
			}
			due = nil
		}
	}
	savable := due[:0]
	for _, p := range due {
		if err := e.checkSave(ctx, p.lineage); err != nil {
			results = append(results, failed(p.lineage, err))
			continue
		}
		savable = append(savable, p)
	}
	due = savable
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, e.concurrency())
	)
	for _, p := range due {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			st, _ := e.m.StatusOf(p.lineage.Name)
			var err error
			if opts.Force {
				err = e.m.Renew(ctx, p.lineage.Name)
			} else {
				_, err = e.m.RenewIfDue(ctx, p.lineage.Name)
			}
			r, _ := e.outcome(p.lineage, st.Serial, st.Serial != "" && store.SameIdentifiers(st.CertIdentifiers, p.lineage.Identifiers), err)
			if r.Outcome == StillValid {
				r.Outcome = NotDue
			}
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		})
	}
	wg.Wait()
	return results
}
