package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
)

// List from the store's index (store.Certs.ReadIndex): a store of
// 100,000 certificates lists in a fraction of a second instead of reading
// and parsing every certificate, lineage record and state. The entries
// are the ones reading gives (TestListIndexMatchesReading). ok is false
// when the store has no Full index: List then reads.

// listIndexed is List of every certificate, from the index.
func (e *Engine) listIndexed(ctx context.Context, opts ListOptions) (entries []Entry, ok bool, err error) {
	x, err := e.certs.ReadIndex(ctx)
	if err != nil || !x.Full() {
		return nil, false, nil
	}
	now := e.now()
	accounts := map[string]string{} // the account of made-up lineages, by CA
	paths := e.certs.IndexPaths(ctx)
	ies := x.Entries(opts.CA)
	entries = make([]Entry, 0, len(ies))
	var errs []error
	for _, ie := range ies {
		var l store.Lineage
		if ie.Lineage != nil {
			l = store.Lineage{Name: ie.Name, CA: ie.CA, Account: ie.Lineage.Account, Identifiers: ie.Lineage.Identifiers}
		} else {
			acct, ok := accounts[ie.CA]
			if !ok {
				acct = e.onlyAccount(ctx, ie.CA)
				accounts[ie.CA] = acct
			}
			l = store.Lineage{Name: ie.Name, CA: ie.CA, Account: acct, Identifiers: ie.Cert.Identifiers}
			if len(l.Identifiers) == 0 {
				l.Identifiers = []string{ie.Name}
			}
		}
		var h *heldCert
		if r := ie.Cert; r != nil {
			if len(r.CertNames) > 0 {
				h = &heldCert{ids: r.CertNames, serial: r.Serial, issuer: r.Issuer, notBefore: r.NotBefore, notAfter: r.NotAfter, draw: r.Draw}
				if r.Revoked {
					h.revoked = &store.Revocation{Serial: r.Serial, At: r.RevokedAt, Reason: r.RevocationReason}
				}
				if paths != nil {
					if p, err := paths(ie.CA, ie.Name, r.HasKey); err == nil {
						h.paths = &p
					}
				}
			} else {
				// A leaf without names in its SAN: List shows its
				// subject's common name, which the index does not keep.
				var err error
				if h, err = e.readHeld(ctx, ie.CA, ie.Name); err != nil {
					errs = append(errs, err)
				}
			}
		}
		var st manager.Status
		hasState := ie.Schedule != nil
		if s := ie.Schedule; s != nil {
			st = manager.Status{CA: ie.CA, Name: ie.Name, Serial: s.Serial, NextRenewal: s.NextRenewal,
				LastSuccess: s.LastSuccess, LastError: s.LastError, Failures: s.Failures}
			if s.ErrorCut {
				// Too long for the index: the state has it whole.
				full, ok, err := manager.LoadStatusOf(ctx, e.certs, ie.CA, ie.Name)
				if err != nil {
					errs = append(errs, err)
				} else if ok {
					st.LastError = full.LastError
				}
			}
		}
		en := e.entry(l, h, st, hasState, now)
		en.HasLineage = ie.Lineage != nil
		entries = append(entries, en)
	}
	return entries, true, errors.Join(errs...)
}

// readHeld reads the certificate called name from ca for List.
func (e *Engine) readHeld(ctx context.Context, ca, name string) (*heldCert, error) {
	res, err := e.certs.LoadCertificate(ctx, ca, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err == nil && len(res.ChainPEM) == 0 {
		return nil, nil
	}
	if err == nil {
		var h *heldCert
		if h, err = heldOf(&res); err == nil {
			return h, nil
		}
	}
	return nil, fmt.Errorf("certificate %q from %s: %w", name, ca, err)
}

// listNamed is List of opts.Names: the index says which certificates
// mention them (store.Certs.FindInIndex), and only those certificates'
// own records are read.
func (e *Engine) listNamed(ctx context.Context, opts ListOptions) (entries []Entry, ok bool, err error) {
	keys, err := e.certs.FindInIndex(ctx, opts.Names)
	if err != nil {
		return nil, false, nil
	}
	now := e.now()
	var errs []error
	entries = []Entry{}
	found := make([]bool, len(opts.Names))
	for _, k := range keys {
		if opts.CA != "" && k.CA != opts.CA {
			continue
		}
		l, lerr := e.certs.LoadLineage(ctx, k.CA, k.Name)
		hasLineage := lerr == nil
		if lerr != nil && !errors.Is(lerr, fs.ErrNotExist) {
			errs = append(errs, lerr)
		}
		res, rerr := e.certs.LoadCertificate(ctx, k.CA, k.Name)
		held := rerr == nil
		if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			errs = append(errs, rerr)
		}
		if !hasLineage {
			if !held {
				continue
			}
			l = e.madeUpLineage(&res, k.CA, e.onlyAccount(ctx, k.CA))
		}
		matched := false
		for i, n := range opts.Names {
			if strings.EqualFold(l.Name, n) || slices.ContainsFunc(l.Identifiers, func(id string) bool { return strings.EqualFold(id, n) }) {
				found[i], matched = true, true
			}
		}
		if !matched {
			continue // an older line of the index named it
		}
		var h *heldCert
		if held && len(res.ChainPEM) > 0 {
			var err error
			if h, err = heldOf(&res); err != nil {
				errs = append(errs, fmt.Errorf("certificate %q from %s: %w", l.Name, l.CA, err))
			}
		}
		st, hasState, err := manager.LoadStatusOf(ctx, e.certs, k.CA, k.Name)
		if err != nil {
			errs = append(errs, err)
		}
		en := e.entry(l, h, st, hasState, now)
		en.HasLineage = hasLineage
		entries = append(entries, en)
	}
	for i, n := range opts.Names {
		if !found[i] {
			errs = append(errs, &NoCertificateError{Name: n})
		}
	}
	return entries, true, errors.Join(errs...)
}
