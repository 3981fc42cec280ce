package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// LineageVersion is the format version of the lineage records this
// package writes.
const LineageVersion = 1

// Lineage records how a certificate was obtained, so that every later
// renewal (by the command line, the daemon or another instance sharing the
// store) places the same order without being told again. It is written
// when the certificate is first obtained and changed only when the user
// asks. Secrets are never part of it: settings that need one name the file
// or the environment variable that holds it.
//
// The record is plain data; the packages that act on it (the engine, the
// solver configuration) give its fields their meaning.
type Lineage struct {
	// Version is the record's format, LineageVersion when written by
	// this package.
	Version int `json:"version"`
	// Name is the certificate's name in the store (see EncodeName).
	Name string `json:"name"`
	// CA is the full ACME directory URL the certificate comes from.
	CA string `json:"ca"`
	// CARoot is a PEM file of roots to trust for the CA's API, for a
	// private CA; "" means the system's roots.
	CARoot string `json:"ca_root,omitempty"`
	// Account is the ID of the account at CA that orders it
	// (AccountRecord.ID).
	Account string `json:"account,omitempty"`
	// Identifiers are the names and IP addresses ordered (RFC 8555
	// §7.1.3), in the order given.
	Identifiers []string `json:"identifiers"`
	// KeyType is the type of new private keys (keys.Type); "" means the
	// default.
	KeyType string `json:"key_type,omitempty"`
	// ReuseKey keeps the private key across renewals.
	ReuseKey bool `json:"reuse_key,omitempty"`
	// CSR is the PEM certificate signing request the user gave, if the
	// certificate is ordered with the user's own CSR (its key is not in
	// the store).
	CSR string `json:"csr,omitempty"`
	// Challenges are the challenge types allowed, in order of
	// preference; empty means every type Solvers configures.
	Challenges []string `json:"challenges,omitempty"`
	// Solvers is the solver configuration (package solverset's Config,
	// as JSON).
	Solvers json.RawMessage `json:"solvers,omitempty"`
	// Profile is the certificate profile asked for, if any.
	Profile string `json:"profile,omitempty"`
	// PreferredChain is the issuer common name of the chain preferred.
	PreferredChain string `json:"preferred_chain,omitempty"`
	// Hooks run when the certificate changes.
	Hooks []LineageHook `json:"hooks,omitempty"`
	// Created is when the record was first written; Updated when it last
	// changed.
	Created time.Time `json:"created,omitzero"`
	Updated time.Time `json:"updated,omitzero"`
}

// LineageHook is a command run on certificate events (see manager.Hook).
type LineageHook struct {
	// Events the hook runs for ("obtained", "renewed", …); empty means
	// obtained and renewed.
	Events  []string `json:"events,omitempty"`
	Command string   `json:"command"`
	Args    []string `json:"args,omitempty"`
	// Timeout bounds one run, as a Go duration string ("1m"); "" means
	// the default.
	Timeout string `json:"timeout,omitempty"`
}

// Validate checks what a lineage record must hold to be usable.
func (l *Lineage) Validate() error {
	var errs []error
	if l.Name == "" {
		errs = append(errs, errors.New("no name"))
	} else if _, err := EncodeName(l.Name); err != nil {
		errs = append(errs, err)
	}
	if l.CA == "" {
		errs = append(errs, errors.New("no CA"))
	}
	if len(l.Identifiers) == 0 {
		errs = append(errs, errors.New("no identifiers"))
	}
	for i, h := range l.Hooks {
		if h.Command == "" {
			errs = append(errs, fmt.Errorf("hook %d has no command", i))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: lineage %q: %w", l.Name, err)
	}
	return nil
}

// SameIdentifiers reports whether a and b hold the same identifiers, in
// any order and case.
func SameIdentifiers(a, b []string) bool {
	norm := func(s []string) []string {
		out := make([]string, len(s))
		for i, v := range s {
			out[i] = strings.ToLower(strings.TrimSuffix(v, "."))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

// SaveLineage stores l (after Validate) as the lineage record of the
// certificate l.Name from l.CA. It sets Version, and Created if zero.
func (c *Certs) SaveLineage(ctx context.Context, l Lineage) error {
	if err := l.Validate(); err != nil {
		return err
	}
	k, err := c.lineageKey(l.CA, l.Name)
	if err != nil {
		return err
	}
	l.Version = LineageVersion
	if l.Created.IsZero() {
		l.Created = l.Updated
	}
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	unlock, err := c.lockRecord(ctx, l.CA, l.Name)
	if err != nil {
		return err
	}
	defer unlock()
	if err := c.Store.Put(ctx, k, append(data, '\n')); err != nil {
		return err
	}
	_ = c.indexAppend(ctx, l.CA, l.Name, lineageLine(l.CA, l.Name, &IndexLineage{Account: l.Account, Identifiers: l.Identifiers}))
	return nil
}

// LoadLineage returns the lineage record of the certificate name from the
// CA with directory URL ca. A missing record gives an error wrapping
// fs.ErrNotExist; one that cannot be parsed or is not valid (see
// Validate) an error wrapping ErrCorrupt, so that the caller may replace
// it (a record in a format newer than LineageVersion is not corrupt).
func (c *Certs) LoadLineage(ctx context.Context, ca, name string) (Lineage, error) {
	k, err := c.lineageKey(ca, name)
	if err != nil {
		return Lineage{}, err
	}
	return c.loadLineage(ctx, k)
}

func (c *Certs) loadLineage(ctx context.Context, k string) (Lineage, error) {
	data, err := c.Store.Get(ctx, k)
	if err != nil {
		return Lineage{}, err
	}
	var l Lineage
	if err := json.Unmarshal(data, &l); err != nil {
		return Lineage{}, fmt.Errorf("store: %s: %w: %w", k, ErrCorrupt, err)
	}
	if l.Version > LineageVersion {
		// Not corrupt: a newer program's, which this one must not
		// replace.
		return Lineage{}, fmt.Errorf("store: %s: lineage format %d is newer than this program knows (%d)", k, l.Version, LineageVersion)
	}
	if err := l.Validate(); err != nil {
		return Lineage{}, fmt.Errorf("store: %s: %w: %w", k, ErrCorrupt, err)
	}
	return l, nil
}

// ListLineages returns the lineage records of the certificates from the
// CA with directory URL ca, or from every CA if ca is "", sorted by key.
// Records that fail to load are left out and their errors (wrapping
// ErrCorrupt for a damaged record) joined into the returned error.
func (c *Certs) ListLineages(ctx context.Context, ca string) ([]Lineage, error) {
	sch := c.scheme()
	ks, err := sch.lineageKeys(ctx, ca)
	if err != nil {
		return nil, err
	}
	var (
		out  []Lineage
		errs []error
	)
	for _, k := range ks {
		l, err := c.loadLineage(ctx, k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !sch.lineageOf(ca, &l) {
			continue
		}
		out = append(out, l)
	}
	return out, errors.Join(errs...)
}

// DeleteLineage removes the lineage record of name from ca. A missing
// record gives an error wrapping fs.ErrNotExist.
func (c *Certs) DeleteLineage(ctx context.Context, ca, name string) error {
	k, err := c.lineageKey(ca, name)
	if err != nil {
		return err
	}
	if err := c.Store.Delete(ctx, k); err != nil {
		return err
	}
	_ = c.indexAppend(ctx, ca, name, keyLine("l", ca, name))
	return nil
}

// lineageKey is where the lineage record of name from ca is kept.
func (c *Certs) lineageKey(ca, name string) (string, error) {
	return c.scheme().lineageKey(ca, name)
}
