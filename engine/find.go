package engine

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/store"
)

// AmbiguousNameError is FindLineage's error when the store keeps
// certificates of one name from several CAs and none was named.
type AmbiguousNameError struct {
	Name string
	// CAs are the directory URLs of the CAs it has one from.
	CAs []string
}

func (e *AmbiguousNameError) Error() string {
	return fmt.Sprintf("the store has certificates %s from several CAs: %s", e.Name, strings.Join(e.CAs, ", "))
}

// NoCertificateError is FindLineage's error when the store has no
// certificate of the name. It matches fs.ErrNotExist (errors.Is).
type NoCertificateError struct {
	Name string
	// CA is the CA looked at, "" for any.
	CA string
	// ReadErr, if not nil, is what could not be read in the store: the
	// certificate may be among it.
	ReadErr error
}

func (e *NoCertificateError) Error() string {
	from := ""
	if e.CA != "" {
		from = " from " + e.CA
	}
	if e.ReadErr != nil {
		return fmt.Sprintf("the store has no certificate %s%s that can be read: %v", e.Name, from, e.ReadErr)
	}
	return fmt.Sprintf("the store has no certificate %s%s", e.Name, from)
}

// Is reports whether target is fs.ErrNotExist.
func (e *NoCertificateError) Is(target error) bool { return target == fs.ErrNotExist }

// Unwrap returns ReadErr.
func (e *NoCertificateError) Unwrap() error { return e.ReadErr }

// FindLineage returns the lineage of the certificate the store keeps
// under name (as given, or as ordered: an internationalised name in
// A-labels, lower case, no trailing dot), from the CA ca, or from any CA
// if ca is "". defaultCA is the CA of certificates kept without one (the
// shared layout). A name the store does not have is a
// *NoCertificateError (which matches fs.ErrNotExist); one it has from
// several CAs, with ca "", an *AmbiguousNameError.
func (e *Engine) FindLineage(ctx context.Context, name, ca, defaultCA string) (store.Lineage, error) {
	ls, lerr := e.Lineages(ctx, ca, defaultCA)
	if ls == nil && lerr != nil {
		return store.Lineage{}, lerr
	}
	match := func(n string) []store.Lineage {
		var out []store.Lineage
		for _, l := range ls {
			if l.Name == n {
				out = append(out, l)
			}
		}
		return out
	}
	found := match(name)
	if len(found) == 0 {
		if id, err := issue.ParseIdentifier(name); err == nil {
			found = match(id.Value)
		}
	}
	switch len(found) {
	case 0:
		return store.Lineage{}, &NoCertificateError{Name: name, CA: ca, ReadErr: lerr}
	case 1:
		return found[0], nil
	}
	amb := &AmbiguousNameError{Name: found[0].Name}
	for _, l := range found {
		amb.CAs = append(amb.CAs, l.CA)
	}
	return store.Lineage{}, amb
}

// LineageOf returns the lineage of which leaf is a version (a certificate
// the store keeps, matched by its names and serial number), from the CA
// ca or any CA if ca is "", and whether there is one. The error joins
// what could not be read while looking (records, versions); it is
// returned with a match too, if the match was found despite them.
func (e *Engine) LineageOf(ctx context.Context, leaf *x509.Certificate, ca, defaultCA string) (store.Lineage, bool, error) {
	ls, lerr := e.Lineages(ctx, ca, defaultCA)
	errs := []error{lerr}
	serial := leaf.SerialNumber.Text(16)
	names := leafNames(leaf)
	for _, l := range ls {
		if !slices.ContainsFunc(l.Identifiers, func(id string) bool { return slices.Contains(names, strings.ToLower(id)) }) {
			continue
		}
		vs, err := e.certs.Versions(ctx, l.CA, l.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("the versions of %s: %w", l.Name, err))
			continue
		}
		for _, v := range vs {
			if v.Serial == serial {
				return l, true, errors.Join(errs...)
			}
		}
	}
	return store.Lineage{}, false, errors.Join(errs...)
}

// leafNames returns the names of leaf, in lower case: its DNS names and
// IP addresses, else its common name.
func leafNames(leaf *x509.Certificate) []string {
	var names []string
	for _, n := range leaf.DNSNames {
		names = append(names, strings.ToLower(n))
	}
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = []string{strings.ToLower(leaf.Subject.CommonName)}
	}
	return names
}
