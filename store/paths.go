package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// StateKey returns the key of the renewal state that a manager keeps for
// the certificate called name from the CA with directory URL ca:
// manager/<ca>/<name>.json in LayoutStandard, with <ca> from CADirName
// and <name> from EncodeName, and certkeeper/manager/<name>.json in
// LayoutShared (where ca is ignored). Use LoadState, SaveState and
// ListStates to read and write it: they also find the state an older
// certkeeper kept elsewhere. The error wraps ErrInvalidKey.
func (c *Certs) StateKey(ca, name string) (string, error) {
	return c.scheme().stateKey(ca, name)
}

// LoadState returns the renewal state kept for the certificate called
// name from the CA with directory URL ca (at StateKey, or where an older
// certkeeper kept it if it is not yet moved). A missing state gives an
// error wrapping fs.ErrNotExist.
func (c *Certs) LoadState(ctx context.Context, ca, name string) ([]byte, error) {
	k, err := c.StateKey(ca, name)
	if err != nil {
		return nil, err
	}
	data, err := c.Store.Get(ctx, k)
	if !errors.Is(err, fs.ErrNotExist) {
		return data, err
	}
	old, lerr := legacyStateKey(ca, name)
	if lerr != nil || old == k {
		return nil, err
	}
	return c.Store.Get(ctx, old)
}

// SaveState writes the renewal state of the certificate called name from
// the CA with directory URL ca at StateKey, atomically, but without
// waiting for the disk where the store can (RelaxedPutter): a crash of
// the machine may lose the last states saved. In a store with
// an index, the schedule it holds (the keys package manager writes:
// serial, next_renewal, last_error…) is recorded there too (see
// Schedule).
func (c *Certs) SaveState(ctx context.Context, ca, name string, data []byte) error {
	return c.writeState(ctx, ca, name, false, true, func([]byte) ([]byte, error) { return data, nil })
}

// SaveStateUnindexed is SaveState for a state whose schedule (what
// Schedule holds) is the one the last SaveState of the certificate
// recorded, or none was: the index is not written, which would only
// repeat its line. The manager saves so the order it has just placed
// (RFC 8555 §7.4), which changes nothing of the schedule: a third of the
// index lines a renewal appended. A schedule that did change is left out
// of the index until the next SaveState (a manager that starts from the
// index meanwhile reads the state itself when it loads the certificate).
func (c *Certs) SaveStateUnindexed(ctx context.Context, ca, name string, data []byte) error {
	return c.writeState(ctx, ca, name, false, false, func([]byte) ([]byte, error) { return data, nil })
}

// UpdateState is SaveState of what update returns, given the state stored
// now (nil if there is none), read under the same lock as SaveState
// writes under (in a Dir: the certificate's lock), so that no SaveState
// or UpdateState of another process comes between the read and the
// write: for a writer that must keep what another process recorded (the
// manager keeps the order in flight that another process's attempt
// noted). In a store without that lock (Memory, etcd) the read and the
// write are not one step. An error of update is returned and nothing is
// written; update is not called when the stored state cannot be read.
func (c *Certs) UpdateState(ctx context.Context, ca, name string, update func(stored []byte) ([]byte, error)) error {
	return c.writeState(ctx, ca, name, true, true, update)
}

// writeState writes what update returns as the state, under the lock,
// giving it the state stored if read is set (SaveState reads nothing),
// and records its schedule in the index if index is set.
func (c *Certs) writeState(ctx context.Context, ca, name string, read, index bool, update func(stored []byte) ([]byte, error)) error {
	k, err := c.StateKey(ca, name)
	if err != nil {
		return err
	}
	if err := c.migrateOnce(ctx); err != nil {
		return err
	}
	unlock, err := c.lockRecord(ctx, ca, name)
	if err != nil {
		return err
	}
	defer unlock()
	var stored []byte
	if read {
		if stored, err = c.LoadState(ctx, ca, name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	data, err := update(stored)
	if err != nil {
		return err
	}
	// Relaxed: the state only saves work after a restart (see
	// docs/store.md, "What survives a crash").
	if err := putRelaxed(ctx, c.Store, k, data); err != nil {
		return err
	}
	if index && c.indexes() {
		if s, _, ok := stateSchedule(data); ok {
			_ = c.indexAppend(ctx, ca, name, schedLine(ca, name, s))
		}
	}
	return nil
}

// StateRecord is one renewal state found by ListStates.
type StateRecord struct {
	// Key is where the state is stored.
	Key string
	// CADir is the CA component of Key (CADirName of the CA, or the
	// host and port for a state an older certkeeper stored); "" in
	// LayoutShared.
	CADir string
	// Name is the certificate's name.
	Name string
	// Data is the state as the manager stored it.
	Data []byte
}

// ListStates returns the renewal states kept for the certificates of the
// CA with directory URL ca, or of every CA if ca is "", sorted by key,
// including those an older certkeeper kept elsewhere and not yet moved.
// States that cannot be read are left out and their errors joined into
// the returned error.
func (c *Certs) ListStates(ctx context.Context, ca string) ([]StateRecord, error) {
	sch := c.scheme()
	prefixes, err := sch.statePrefixes(ca)
	if err != nil {
		return nil, err
	}
	var (
		out  []StateRecord
		errs []error
	)
	seen := map[[2]string]bool{}
	for _, prefix := range prefixes {
		ks, err := c.Store.List(ctx, prefix)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			caDir, name, ok := sch.stateEntry(prefix, k, ca)
			if !ok {
				continue
			}
			id := [2]string{caDir, name}
			if ca != "" {
				id[0] = ""
			}
			if seen[id] {
				continue // the old copy of a state already moved
			}
			data, err := c.Store.Get(ctx, k)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			seen[id] = true
			out = append(out, StateRecord{Key: k, CADir: caDir, Name: name, Data: data})
		}
	}
	return out, errors.Join(errs...)
}

// CertPaths are the files that hold a certificate, as programs outside
// certkeeper read them from a directory store (see Certs.Paths).
type CertPaths struct {
	// Dir is the certificate's directory in LayoutStandard, the store's
	// root in LayoutShared.
	Dir string
	// Live is the link to the directory of the current version, in
	// LayoutStandard: resolve it once and read both files from the
	// directory it names to get a matching key and chain. "" in
	// LayoutShared.
	Live string
	// Cert is the chain, leaf first; Key the private key; Combined the
	// key (if the store has it) then the chain, in one file written
	// atomically. In LayoutShared they are all "<name>.pem". Key is ""
	// in LayoutStandard when the certificate is stored without its key
	// (ordered with the caller's CSR).
	Cert, Key, Combined string
	// Meta is meta.json (identifiers, URLs, times); "" in LayoutShared.
	Meta string
}

// Paths returns the files that hold the certificate called name from the
// CA with directory URL ca, when the store is a directory (a Store with a
// Path method, such as Dir); otherwise an error wrapping
// errors.ErrUnsupported. The files need not exist yet, but when the
// certificate is stored without its key, Key is "" (there is no key.pem).
func (c *Certs) Paths(ca, name string) (CertPaths, error) {
	p, ok := c.Store.(pather)
	if !ok {
		return CertPaths{}, fmt.Errorf("store: %T keeps no files: %w", c.Store, errors.ErrUnsupported)
	}
	return c.scheme().paths(p, ca, name)
}

// ChangeKind says what a changed key is about (see Certs.WhatChanged).
type ChangeKind int

const (
	// ChangeOther is a key that Certs does not describe, or one that is
	// part of a save still in progress.
	ChangeOther ChangeKind = iota
	// ChangeCertificate is a certificate's commit: its pointer, or the
	// file that makes an unversioned or shared-layout certificate
	// visible. Read the certificate again with LoadCertificate.
	ChangeCertificate
	// ChangeState is a certificate's renewal state (see StateKey).
	ChangeState
)

// Change is what WhatChanged tells of a key.
type Change struct {
	Kind ChangeKind
	// CADir is the CA component of the key (CADirName of the CA, or the
	// host and port in a key an older certkeeper wrote); "" in
	// LayoutShared, where the store has one CA.
	CADir string
	// Name is the certificate's name.
	Name string
}

// WhatChanged tells which certificate a key changed in the store (such as
// a store.Watcher reports) belongs to, and whether it is the one change
// that completes a save. The other keys a save writes (a version's files)
// are ChangeOther, so that a watcher reads a certificate once, when it is
// complete.
func (c *Certs) WhatChanged(key string) Change {
	return c.scheme().whatChanged(key)
}
