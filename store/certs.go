package store

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"
)

// CertRecord is a certificate as the store keeps it: the chain an order
// returned (an issue.Issued) with its private key, the CA and URL it
// came from, and what was recorded since (revocation). manager.RecordOf
// is the one conversion from an issued certificate to a CertRecord.
type CertRecord struct {
	// Name is the certificate's name, its first identifier, such as
	// "www.example.com", "*.example.com" or "192.0.2.1". It selects where
	// the certificate is stored (see EncodeName). SaveCertificate uses
	// Identifiers[0] when it is empty.
	Name string
	// Identifiers are all the names and IP addresses the certificate is
	// for (RFC 8555 §7.1.3 "identifiers").
	Identifiers []string
	// CA is the ACME directory URL of the CA that issued it.
	CA string
	// CertURL is the certificate's URL at the CA (§7.4.2), for
	// revocation and renewal information.
	CertURL string
	// Profile is the certificate profile ordered, if any.
	Profile string
	// ObtainedAt is when the certificate was issued to us.
	ObtainedAt time.Time
	// KeyPEM is the private key in PEM. It is nil when the user supplied
	// the CSR and keeps the key.
	KeyPEM []byte
	// ChainPEM is the certificate chain in PEM, leaf first, then the
	// intermediates (§7.4.2). An empty ChainPEM from LoadCertificate
	// means the shared layout holds an empty placeholder file: the name
	// is wanted but not yet issued.
	ChainPEM []byte

	// Revoked is the revocation recorded for the leaf (see
	// Certs.MarkRevoked), filled in by LoadCertificate and
	// ListCertificates; nil if none is. SaveCertificate ignores it.
	Revoked *Revocation

	// Key and Certificates are KeyPEM and ChainPEM parsed, filled in by
	// LoadCertificate and ListCertificates (which check that the key is
	// the leaf's) so that readers need not parse them again. Key is nil
	// without KeyPEM. A caller of SaveCertificate that has them parsed
	// (the manager, from the order) may set them: when KeyPEM and
	// ChainPEM are their encodings byte for byte (KeyPEM as
	// keys.MarshalPEM writes Key), the PEM is not parsed again; otherwise
	// it is, and the PEM is what is stored in any case.
	Key          crypto.Signer
	Certificates []*x509.Certificate

	// Version is the number of the stored version LoadCertificate and
	// ListCertificates read the record from (see Versions; the number
	// StoredVersion gives while the certificate is unchanged), 0 when the
	// store keeps it without versions (LayoutShared, or one stored before
	// versions were kept). SaveCertificate ignores it.
	Version int

	// PointerErr, set by LoadCertificate and ListCertificates, says that
	// the store's pointer to the certificate's current version (in a Dir,
	// the live link) is broken: missing, or leading to a version without
	// its chain (an admin's mistake, a backup tool that drops symbolic
	// links, a version directory deleted by hand). The record was read
	// from the newest whole version (Version) instead, and the files at
	// the top of the certificate's directory, links through live, may not
	// be there until the next save of the certificate, which makes both
	// right. It wraps ErrBrokenPointer. Worth a warning, not a failure.
	PointerErr error
}

// AccountRecord is what is kept of an ACME account (RFC 8555 §7.1.2).
type AccountRecord struct {
	// CA is the ACME directory URL. LoadAccount and ListAccounts fill it
	// in; SaveAccount takes it from its argument.
	CA string
	// ID tells several accounts at one CA apart ("default" when there is
	// one). LoadAccount and ListAccounts fill it in.
	ID string
	// URL is the account URL, used as "kid" in requests (§7.3).
	URL string
	// KeyPEM is the account's private key in PEM.
	KeyPEM []byte
	// Contact lists the account's contact URLs such as "mailto:…".
	Contact []string
	// RecordErr, set by LoadAccount and ListAccounts, says why the
	// account's record (account.json: URL, contacts) could not be read
	// although its key could; it wraps ErrCorrupt. URL and Contact are
	// empty then: find the account by its key (RFC 8555 §7.3.1) and save
	// it again, which rewrites the record. Worth a warning, not a
	// failure.
	RecordErr error
}

// ErrKeyMismatch is wrapped by the error for a certificate whose private
// key does not match its leaf. LoadCertificate retries for a moment
// before returning it, since a reader can meet a save in progress.
var ErrKeyMismatch = errors.New("store: private key does not match the certificate")

// Certs keeps certificates and accounts in a Store, in a Layout.
//
// A save of a certificate is atomic for readers: in LayoutStandard it
// writes a new version and switches a pointer to it (see LayoutStandard);
// in LayoutShared it replaces one file. Certs serialises the saves of one
// certificate with the store lock "certkeeper/certificate/<ca>/<name>"; a
// program that issues certificates should still hold a lock of its own
// for the name around issuing and saving, so that two do not order the
// same certificate. Readers need no lock.
//
// Certs owns every key and lock name of the layout: other packages ask it
// (StateKey, AccountDeactivatedKey, Paths, WhatChanged, ObtainLock,
// LineageLock, AccountLock, ListenLock) rather than build them. Before its first write,
// Certs moves what older versions of certkeeper stored under other keys
// (see Migrate); until then, its readers look in both places.
//
// Set the fields before first use; a Certs must not be copied after
// first use.
type Certs struct {
	Store  Store
	Layout Layout
	// KeepVersions is how many previous versions of each certificate are
	// kept besides the current one: 0 means DefaultKeepVersions, a
	// negative number none.
	KeepVersions int

	mig migration
	idx indexQueue
}

// SaveCertificate stores res, replacing any certificate of the same name
// from the same CA. It checks that ChainPEM holds certificates and that
// KeyPEM, if given, matches the leaf. The replaced certificate is kept as
// a previous version (see Versions), up to KeepVersions of them; readers
// get either the old pair or the new one, never a mix (see
// LayoutStandard). Before the first write of c it runs Migrate.
//
// A certificate stored already, the same key and chain byte for byte and
// the same description (name, identifiers, CA, URL, profile), is not
// written again: saving the current certificate changes nothing, and
// saving one held by a version written whole but never made current (its
// writer was killed before the switch, and the next attempt got the same
// certificate from the CA when it resumed the order) makes that version
// current. Either way the store keeps one copy of it.
func (c *Certs) SaveCertificate(ctx context.Context, res CertRecord) error {
	if res.Name == "" && len(res.Identifiers) > 0 {
		res.Name = res.Identifiers[0]
	}
	_, chain, err := checkRecord(res)
	if err != nil {
		return fmt.Errorf("store: saving %q: %w", res.Name, err)
	}
	if err := c.migrateOnce(ctx); err != nil {
		return err
	}
	return c.scheme().saveCertificate(ctx, res, chain[0])
}

// saveCertificate writes a new version and switches the pointer to it,
// then records it in the index.
func (s standardScheme) saveCertificate(ctx context.Context, res CertRecord, leaf *x509.Certificate) error {
	c := s.c
	caDir, enc, err := s.entryNames(res.CA, res.Name)
	if err != nil {
		return err
	}
	meta, err := json.MarshalIndent(certMeta{
		Name: res.Name, Identifiers: res.Identifiers, CA: res.CA,
		CertURL: res.CertURL, Profile: res.Profile, ObtainedAt: res.ObtainedAt,
	}, "", "  ")
	if err != nil {
		return err
	}
	n, err := c.saveStandard(ctx, caDir, enc, res, append(meta, '\n'))
	if err != nil {
		return err
	}
	// The certificate is saved: a failure to index it is repaired by
	// readers (Reindex), so it is logged by no one and not returned.
	_ = c.indexSaved(ctx, res, leaf, n)
	return nil
}

// LoadCertificate returns the certificate called name from the CA with
// directory URL ca. A missing certificate gives an error wrapping
// fs.ErrNotExist.
func (c *Certs) LoadCertificate(ctx context.Context, ca, name string) (CertRecord, error) {
	return c.scheme().loadCertificate(ctx, ca, name)
}

func (s standardScheme) loadCertificate(ctx context.Context, ca, name string) (CertRecord, error) {
	c := s.c
	dir, n, err := c.findCertDirN(ctx, ca, name)
	if err != nil {
		return CertRecord{}, err
	}
	return c.loadStandardFrom(ctx, dir, n)
}

// ListCertificates returns the certificates from the CA with directory
// URL ca, or from every CA if ca is "", sorted by key. Certificates that
// fail to load are left out and their errors (each a *CertificateError,
// naming the certificate's key) joined into the returned error, alongside
// the ones that loaded.
func (c *Certs) ListCertificates(ctx context.Context, ca string) ([]CertRecord, error) {
	return c.scheme().listCertificates(ctx, ca)
}

func (s standardScheme) listCertificates(ctx context.Context, ca string) ([]CertRecord, error) {
	c := s.c
	prefixes, err := certPrefixes(certsDir, ca)
	if err != nil {
		return nil, err
	}
	var (
		out  []CertRecord
		errs []error
	)
	seen := map[[2]string]bool{} // CA, name
	for i, prefix := range prefixes {
		dirs, err := c.certDirs(ctx, prefix)
		if err != nil {
			return nil, err
		}
		for _, dir := range dirs {
			res, err := c.loadStandardAt(ctx, dir)
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted, or a first save not yet switched
			}
			if err != nil {
				errs = append(errs, &CertificateError{Key: dir, Err: err})
				continue
			}
			if i > 0 && res.CA != ca {
				continue // another directory on the same host
			}
			id := [2]string{res.CA, res.Name}
			if seen[id] {
				continue // met again while being migrated
			}
			seen[id] = true
			out = append(out, res)
		}
	}
	return out, errors.Join(errs...)
}

// DeleteCertificate removes the certificate called name from the CA with
// directory URL ca, chain first so that no reader sees a chain without
// its key. A missing certificate gives an error wrapping fs.ErrNotExist.
func (c *Certs) DeleteCertificate(ctx context.Context, ca, name string) error {
	return c.scheme().deleteCertificate(ctx, ca, name)
}

func (s standardScheme) deleteCertificate(ctx context.Context, ca, name string) error {
	c := s.c
	dir, err := c.findCertDir(ctx, ca, name)
	if err != nil {
		return err
	}
	caDir, enc := path.Base(path.Dir(dir)), path.Base(dir)
	unlock, err := c.certLock(ctx, caDir, enc)
	if err != nil {
		return err
	}
	defer unlock()
	if tr, ok := c.Store.(tempRemover); ok {
		tr.removeTemps(dir, keyFile, certFile, combinedFile, metaFile, liveLink, pointerKey)
	}
	// The pointer and the commit files first, so that no reader finds
	// half a certificate; the versions, revocations and lineage record
	// after.
	found := false
	for _, f := range []string{liveLink, pointerKey, certFile, combinedFile, metaFile, keyFile} {
		err := c.Store.Delete(ctx, dir+"/"+f)
		if err == nil {
			found = true
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if !found {
		return fmt.Errorf("store: delete %s: %w", dir, fs.ErrNotExist)
	}
	_ = c.indexAppend(ctx, ca, name, keyLine("D", ca, name))
	for _, sub := range []string{versionsDir, revokedDir} {
		if err := c.deleteTree(ctx, dir+"/"+sub); err != nil {
			return err
		}
	}
	return nil
}

// certMeta is meta.json.
type certMeta struct {
	Name        string    `json:"name"`
	Identifiers []string  `json:"identifiers,omitempty"`
	CA          string    `json:"ca"`
	CertURL     string    `json:"cert_url,omitempty"`
	Profile     string    `json:"profile,omitempty"`
	ObtainedAt  time.Time `json:"obtained_at,omitzero"`
}

// mismatchRetries is how often loadStandardAt rereads an unversioned
// certificate whose key and chain disagree (an older certkeeper saving
// it), 20 ms apart, before giving up.
const mismatchRetries = 5

// loadStandardAt reads the certificate in dir (certificates/<ca>/<name>):
// the pointer once, then that version's files, so that it never mixes two
// versions; or the unversioned files of an older save; or, when the
// pointer is missing or leads to a version without its chain, the newest
// whole version (newestWhole, with PointerErr).
func (c *Certs) loadStandardAt(ctx context.Context, dir string) (CertRecord, error) {
	return c.loadStandardFrom(ctx, dir, 0)
}

// loadStandardFrom is loadStandardAt, the pointer of dir read already if
// known is not 0.
func (c *Certs) loadStandardFrom(ctx context.Context, dir string, known int) (CertRecord, error) {
	for attempt := 1; ; attempt++ {
		n, err := known, error(nil)
		known = 0
		if n == 0 {
			n, err = c.current(ctx, dir)
		}
		if err != nil {
			return CertRecord{}, err
		}
		if n > 0 {
			res, err := c.loadVersion(ctx, dir, n)
			if errors.Is(err, fs.ErrNotExist) && attempt < mismatchRetries {
				continue // pruned after a switch we did not see: look again
			}
			if errors.Is(err, fs.ErrNotExist) {
				// The pointer leads to a version without its chain
				// (dangling, a version deleted by hand): the newest
				// whole version is read.
				if res, ferr := c.newestWhole(ctx, dir, n); !errors.Is(ferr, fs.ErrNotExist) {
					return res, ferr
				}
			}
			if err != nil {
				return CertRecord{}, fmt.Errorf("store: %s: %w", versionKey(dir, n), err)
			}
			res.Version = n
			return res, nil
		}
		chain, err := c.Store.Get(ctx, dir+"/"+certFile)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && attempt < mismatchRetries {
				// A save that switched to versions meanwhile removes
				// the unversioned files after the pointer is in place.
				if n, perr := c.current(ctx, dir); perr == nil && n > 0 {
					continue
				}
			}
			if errors.Is(err, fs.ErrNotExist) {
				// No pointer and no unversioned certificate: a live
				// link missing (the top-level files, links through it,
				// dangle), or a first save not switched yet, reads the
				// newest whole version, if there is one.
				missing, merr := c.pointerMissing(ctx, dir)
				if merr != nil {
					return CertRecord{}, merr
				}
				if missing {
					if res, ferr := c.newestWhole(ctx, dir, 0); !errors.Is(ferr, fs.ErrNotExist) {
						return res, ferr
					}
				}
			}
			return CertRecord{}, err
		}
		key, err := c.Store.Get(ctx, dir+"/"+keyFile)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return CertRecord{}, err
		}
		meta, err := c.Store.Get(ctx, dir+"/"+metaFile)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return CertRecord{}, err
		}
		res, err := c.record(ctx, dir, key, chain, meta)
		if errors.Is(err, ErrKeyMismatch) && attempt < mismatchRetries {
			if err := sleep(ctx, time.Duration(attempt)*20*time.Millisecond); err != nil {
				return CertRecord{}, err
			}
			continue
		}
		if err != nil {
			return CertRecord{}, fmt.Errorf("store: %s: %w", dir, err)
		}
		return res, nil
	}
}

func ignoreMissing(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
