package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
)

// ListOptions say which certificates List describes.
type ListOptions struct {
	// CA, if set (a directory URL), limits List to that CA's
	// certificates; "" means every CA in the store.
	CA string
	// Names, if not empty, limits List to the certificates whose name,
	// or one of whose identifiers, is one of these (in any case). A name
	// that matches nothing is an error wrapping fs.ErrNotExist.
	Names []string
	// DefaultCA is the CA of certificates the store has without a CA and
	// without a lineage record (the shared layout), as in RenewOptions.
	// Without it such certificates are left out, with an error.
	DefaultCA string
}

// Status is a one-word summary of a certificate, for people: see the
// constants for what each means and which wins when several apply.
type Status string

// The statuses of an Entry, from the most to the least urgent: an entry
// gets the first that applies.
const (
	// StatusMissing: no certificate is held; it was wanted (a lineage
	// record exists, or the shared layout's empty "<name>.pem") but
	// never obtained, or it was deleted. Entry.LastError says why the
	// last attempt failed, if one did.
	StatusMissing Status = "missing"
	// StatusRevoked: the certificate held was revoked (the store records
	// it, see store.Certs.MarkRevoked).
	StatusRevoked Status = "revoked"
	// StatusExpired: the certificate held is past its NotAfter.
	StatusExpired Status = "expired"
	// StatusFailing: the last attempt to renew it failed (see LastError,
	// Failures); the certificate held is still valid.
	StatusFailing Status = "failing"
	// StatusDue: it is due for renewal (NextRenewal is not after now):
	// the next renew, or the daemon, orders it.
	StatusDue Status = "due"
	// StatusValid: valid and not due.
	StatusValid Status = "valid"
)

// Entry describes one certificate of the store for an operator: how it
// is obtained (its lineage), the certificate held if any, and what the
// renewal machinery knows and will do about it.
type Entry struct {
	// Name is the certificate's name in the store, CA the full ACME
	// directory URL it comes from, Account the ID of the account that
	// orders it (store.AccountRecord.ID).
	Name    string
	CA      string
	Account string
	// Identifiers are the names and IP addresses the lineage asks for.
	Identifiers []string
	// Status sums the entry up in one word.
	Status Status
	// HasLineage reports whether the store holds a lineage record for
	// it; false for a certificate stored without one (by an older
	// version, or another program in the shared layout), whose lineage
	// List made up from the certificate (see Engine.Lineages).
	HasLineage bool

	// The certificate held; zero values when none is (StatusMissing).
	//
	// CertIdentifiers are the names and IP addresses it is valid for,
	// which differ from Identifiers when the lineage asked for other
	// names since (it is then due at once). Serial is its serial number
	// in lower-case hexadecimal, Issuer the common name of its issuer,
	// NotBefore and NotAfter its validity. DaysLeft is the whole days
	// from now to NotAfter, rounded down: negative once it expired.
	CertIdentifiers     []string
	Serial              string
	Issuer              string
	NotBefore, NotAfter time.Time
	DaysLeft            int
	// Revoked is the revocation the store records for the certificate
	// held, nil if none.
	Revoked *store.Revocation

	// NextRenewal is when the engine (renew, the daemon) will next order
	// it; a time not after now means at its next run.
	//
	// When the store holds a manager's renewal state for the certificate
	// held (the same serial; for a missing certificate, a state
	// describing none), NextRenewal is the moment that state records and
	// NextRenewalExact is true: the CA's renewal window (RFC 9773) or the
	// lifetime rule with the certificate's own random draw, and the next
	// attempt after a failure, exactly as Renew and the daemon follow it.
	//
	// Otherwise (no state yet, or a state of another certificate, say
	// one an older version or another program wrote) NextRenewalExact is
	// false and NextRenewal is computed as the manager will: now for a
	// missing or expired certificate or one without every identifier
	// asked for; else by the lifetime rule of the engine's
	// manager.Config with the certificate's own draw
	// (manager.RenewalDraw), the moment every process computes for it
	// unless the CA's renewal information, once fetched, says otherwise;
	// and not before the next attempt the state records after failures.
	NextRenewal      time.Time
	NextRenewalExact bool
	// LastError is the whole error of the last attempt to obtain or
	// renew it, "" if the last attempt succeeded or none was recorded;
	// Failures counts the failed attempts in a row. LastSuccess is when
	// one last succeeded (zero if unknown).
	LastError   string
	Failures    int
	LastSuccess time.Time

	// Paths are the files that hold the certificate (store.CertPaths)
	// when the store is a directory, nil otherwise. For a missing
	// certificate they are where it will be written. They are nil too
	// for a certificate that is not yet where the store keeps it (in a
	// store of an older version, before its first write moves it).
	Paths *store.CertPaths
}

// List describes the certificates of the store, of every CA unless
// opts.CA is set, sorted by CA and name: every lineage record (and every
// certificate stored without one, see Lineages) joined with the
// certificate held, if any, and the renewal state managers keep, if any.
// It reads the store and writes nothing, sends nothing and starts
// nothing, so it is safe on a store that other processes are using, and
// on a read-only one.
//
// Lineage records, certificates and renewal states that cannot be read
// are left out (a state only loses its columns) and their errors joined
// into the returned error, alongside the entries of the others; the
// entries are nil only when the store cannot be read at all. Names that
// match no certificate add errors wrapping fs.ErrNotExist.
func (e *Engine) List(ctx context.Context, opts ListOptions) ([]Entry, error) {
	if e.cfg.Layout == store.LayoutStandard {
		var (
			entries []Entry
			err     error
			ok      bool
		)
		if len(opts.Names) > 0 {
			entries, ok, err = e.listNamed(ctx, opts)
		} else {
			entries, ok, err = e.listIndexed(ctx, opts)
		}
		if ok {
			return entries, err
		}
	}
	return e.listRead(ctx, opts)
}

// listRead is List by reading every lineage record, certificate and
// renewal state: for a store without a (Full) index.
func (e *Engine) listRead(ctx context.Context, opts ListOptions) ([]Entry, error) {
	lineages, held, loadErr := e.lineages(ctx, opts.CA, opts.DefaultCA)
	if lineages == nil && loadErr != nil && !isJoined(loadErr) {
		return nil, loadErr
	}
	errs := []error{loadErr}
	if len(opts.Names) > 0 {
		var keep []store.Lineage
		for _, n := range opts.Names {
			found := false
			for _, l := range lineages {
				if strings.EqualFold(l.Name, n) || slices.ContainsFunc(l.Identifiers, func(id string) bool { return strings.EqualFold(id, n) }) {
					found = true
					if !slices.ContainsFunc(keep, func(k store.Lineage) bool { return k.CA == l.CA && k.Name == l.Name }) {
						keep = append(keep, l)
					}
				}
			}
			if !found {
				errs = append(errs, &NoCertificateError{Name: n})
			}
		}
		slices.SortFunc(keep, compareLineages)
		lineages = keep
	}
	states, err := e.states(ctx, lineages)
	errs = append(errs, err)
	now := e.now()
	entries := make([]Entry, 0, len(lineages))
	for _, l := range lineages {
		k := certKey{l.CA, l.Name}
		var h *heldCert
		var err error
		if r, ok := held.certs[k]; ok && len(r.ChainPEM) > 0 {
			h, err = heldOf(&r)
		}
		st, hasState := states[k]
		en := e.entry(l, h, st, hasState, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("certificate %q from %s: %w", l.Name, l.CA, err))
		}
		en.HasLineage = !held.madeUp[k]
		entries = append(entries, en)
	}
	return entries, errors.Join(errs...)
}

// states loads the renewal states of the CAs of ls, by CA and name.
func (e *Engine) states(ctx context.Context, ls []store.Lineage) (map[certKey]manager.Status, error) {
	out := map[certKey]manager.Status{}
	var errs []error
	done := map[string]bool{}
	for _, l := range ls {
		if done[l.CA] {
			continue
		}
		done[l.CA] = true
		sts, err := manager.LoadStatus(ctx, e.certs, l.CA)
		if err != nil {
			errs = append(errs, err)
		}
		for _, st := range sts {
			out[certKey{l.CA, st.Name}] = st
		}
	}
	return out, errors.Join(errs...)
}

// heldCert is what List shows of the certificate held.
type heldCert struct {
	ids                 []string
	serial, issuer      string
	notBefore, notAfter time.Time
	draw                float64
	revoked             *store.Revocation
	// paths, if set, are the certificate's files, known to be there.
	paths *store.CertPaths
}

// heldOf summarises the certificate of res, or reports why it cannot.
func heldOf(res *store.CertRecord) (*heldCert, error) {
	if len(res.Certificates) == 0 {
		return nil, errors.New("the stored chain holds no certificate")
	}
	leaf := res.Certificates[0]
	h := &heldCert{
		ids:    slices.Clone(leaf.DNSNames),
		serial: leaf.SerialNumber.Text(16), issuer: leaf.Issuer.CommonName,
		notBefore: leaf.NotBefore, notAfter: leaf.NotAfter,
		draw: manager.RenewalDraw(leaf), revoked: res.Revoked,
	}
	for _, ip := range leaf.IPAddresses {
		h.ids = append(h.ids, ip.String())
	}
	if len(h.ids) == 0 && leaf.Subject.CommonName != "" {
		h.ids = []string{leaf.Subject.CommonName}
	}
	return h, nil
}

// entry joins a lineage with the certificate held (nil if none) and its
// renewal state.
func (e *Engine) entry(l store.Lineage, h *heldCert, st manager.Status, hasState bool, now time.Time) Entry {
	en := Entry{Name: l.Name, CA: l.CA, Account: l.Account, Identifiers: slices.Clone(l.Identifiers)}
	if hasState {
		en.LastError, en.Failures, en.LastSuccess = st.LastError, st.Failures, st.LastSuccess
	}
	if h != nil && h.paths != nil {
		en.Paths = h.paths
	} else if p, err := e.certs.Paths(l.CA, l.Name); err == nil {
		en.Paths = &p
	}
	if h == nil {
		en.Status = StatusMissing
		en.NextRenewal = now
		if hasState && st.Serial == "" && !st.NextRenewal.IsZero() {
			en.NextRenewal, en.NextRenewalExact = st.NextRenewal, true
		} else if hasState && st.Failures > 0 && st.NextRenewal.After(now) {
			en.NextRenewal = st.NextRenewal
		}
		return en
	}
	if en.Paths != nil && h.paths == nil {
		if _, err := os.Stat(en.Paths.Cert); errors.Is(err, fs.ErrNotExist) {
			// Kept where an older version put it, until the store's
			// first write moves it (store.Certs.Migrate).
			en.Paths = nil
		}
	}
	en.CertIdentifiers = slices.Clone(h.ids)
	en.Serial = h.serial
	en.Issuer = h.issuer
	en.NotBefore, en.NotAfter = h.notBefore, h.notAfter
	en.DaysLeft = int(math.Floor(h.notAfter.Sub(now).Hours() / 24))
	en.Revoked = h.revoked

	switch {
	case en.Revoked != nil:
		// Due at once: the engine replaces a revoked certificate, once
		// the backoff after a failed attempt allows.
		en.NextRenewal, en.NextRenewalExact = now, true
		if hasState && st.Failures > 0 && st.NextRenewal.After(now) {
			en.NextRenewal = st.NextRenewal
		}
	case hasState && st.Serial == en.Serial && !st.NextRenewal.IsZero():
		en.NextRenewal, en.NextRenewalExact = st.NextRenewal, true
	case !now.Before(h.notAfter) || !containsAll(en.CertIdentifiers, l.Identifiers):
		en.NextRenewal = now
	default:
		en.NextRenewal = e.m.RenewalTime(h.notBefore, h.notAfter, h.draw)
	}
	if !en.NextRenewalExact && hasState && st.Failures > 0 && st.NextRenewal.After(en.NextRenewal) {
		// The manager keeps the backoff across certificates.
		en.NextRenewal = st.NextRenewal
	}

	switch {
	case en.Revoked != nil:
		en.Status = StatusRevoked
	case !now.Before(en.NotAfter):
		en.Status = StatusExpired
	case en.Failures > 0 || en.LastError != "":
		en.Status = StatusFailing
	case !now.Before(en.NextRenewal):
		en.Status = StatusDue
	default:
		en.Status = StatusValid
	}
	return en
}

func compareLineages(a, b store.Lineage) int {
	if c := strings.Compare(a.CA, b.CA); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}
