package store

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"strings"
	"time"
)

// Revocation records that a certificate was revoked (RFC 8555 §7.6).
type Revocation struct {
	// Serial is the certificate's serial number in lower-case
	// hexadecimal without leading zeros.
	Serial string `json:"serial"`
	// At is when it was revoked.
	At time.Time `json:"at"`
	// Reason is the CRLReason code given (RFC 5280 §5.3.1), 0 for
	// unspecified.
	Reason int `json:"reason"`
}

// MarkRevoked records that the certificate with the given serial number
// (hexadecimal; colons and case do not matter), a version of the
// certificate called name from the CA with directory URL ca, was revoked
// at the given time for the given reason (RFC 5280 §5.3.1 code), so that
// LoadCertificate, ListCertificates and Versions report it in
// CertRecord.Revoked and Version.Revoked. The certificate itself is kept.
// A serial that is not hexadecimal gives an error wrapping ErrInvalidKey.
func (c *Certs) MarkRevoked(ctx context.Context, ca, name, serial string, at time.Time, reason int) error {
	_, err := c.markRevoked(ctx, ca, name, serial, at, reason, false)
	return err
}

// MarkRevokedOnce is MarkRevoked, except that a revocation already
// recorded for that serial is kept, with its time and reason (for a
// revocation the CA says it had made already: alreadyRevoked, RFC 8555
// §7.6). It reports whether it recorded one; the check and the write are
// made under the certificate's lock.
func (c *Certs) MarkRevokedOnce(ctx context.Context, ca, name, serial string, at time.Time, reason int) (bool, error) {
	return c.markRevoked(ctx, ca, name, serial, at, reason, true)
}

// parseSerial reads a serial number given in hexadecimal (colons, case,
// a 0x and leading zeros do not matter).
func parseSerial(what, name, serial string) (*big.Int, error) {
	n, ok := new(big.Int).SetString(strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(serial), "0x"), ":", ""), 16)
	if !ok || n.Sign() < 0 {
		return nil, fmt.Errorf("store: %s %q: %w: serial %q is not hexadecimal", what, name, ErrInvalidKey, serial)
	}
	return n, nil
}

// LoadRevocation returns the revocation MarkRevoked recorded for the
// certificate with the given serial number (hexadecimal; colons, case and
// leading zeros do not matter), a version of the certificate called name
// from the CA with directory URL ca (RFC 8555 §7.6), or nil if none is
// recorded. It reads the record whether or not that version is still
// kept or current (LoadCertificate gives the current version's only), so
// a revoke that waited while a renewal replaced the version it revokes
// still finds a revocation recorded meanwhile. A serial that is not
// hexadecimal gives an error wrapping ErrInvalidKey, a record that cannot
// be parsed one that names its key.
func (c *Certs) LoadRevocation(ctx context.Context, ca, name, serial string) (*Revocation, error) {
	n, err := parseSerial("reading the revocation of", name, serial)
	if err != nil {
		return nil, err
	}
	dir, err := c.scheme().revokedDir(ca, name)
	if err != nil {
		return nil, err
	}
	return c.loadRevocationKey(ctx, dir+"/"+n.Text(16)+".json")
}

func (c *Certs) markRevoked(ctx context.Context, ca, name, serial string, at time.Time, reason int, once bool) (bool, error) {
	n, err := parseSerial("revoking", name, serial)
	if err != nil {
		return false, err
	}
	if err := c.migrateOnce(ctx); err != nil {
		return false, err
	}
	dir, err := c.scheme().revokedDir(ca, name)
	if err != nil {
		return false, err
	}
	rec := Revocation{Serial: n.Text(16), At: at.UTC(), Reason: reason}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return false, err
	}
	unlock, err := c.lockRecord(ctx, ca, name)
	if err != nil {
		return false, err
	}
	defer unlock()
	key := dir + "/" + rec.Serial + ".json"
	if once {
		switch _, err := c.Store.Get(ctx, key); {
		case err == nil:
			return false, nil
		case !errors.Is(err, fs.ErrNotExist):
			return false, err
		}
	}
	if err := c.Store.Put(ctx, key, append(data, '\n')); err != nil {
		return false, err
	}
	_ = c.indexAppend(ctx, ca, name, revokedLine(&IndexRecord{CA: ca, Name: name, Serial: rec.Serial, RevokedAt: rec.At, RevocationReason: rec.Reason}))
	return true, nil
}

// CheckMarkRevoked reports whether MarkRevoked could record a revocation
// of the certificate called name from the CA with directory URL ca now,
// so that a command can refuse to revoke at the CA (RFC 8555 §7.6) a
// certificate whose revocation the store could not keep. On a store that
// has CheckWritable (Dir) it writes and removes a probe file first; then
// it runs any pending migration and takes and releases the record's lock,
// which a read-only store, or one whose lock directory is not one,
// refuses; in a Dir, it then asks the system whether the directory the
// record goes in (or the nearest one above it that exists) may be
// written, and refuses something other than a directory there. The
// error names the store where the store's errors do (Dir: its absolute
// path) and wraps the system's (fs.ErrPermission, syscall.EROFS, ...).
// It records nothing.
func (c *Certs) CheckMarkRevoked(ctx context.Context, ca, name string) error {
	dir, err := c.scheme().revokedDir(ca, name)
	if err != nil {
		return err
	}
	if w, ok := c.Store.(interface{ CheckWritable(context.Context) error }); ok {
		if err := w.CheckWritable(ctx); err != nil {
			return err
		}
	}
	if err := c.migrateOnce(ctx); err != nil {
		return err
	}
	unlock, err := c.lockRecord(ctx, ca, name)
	if err != nil {
		return err
	}
	defer unlock()
	// The record's own directory (Dir): the root may be writable and
	// the certificate's directory not.
	return c.checkWritableDir(ctx, dir)
}

// loadRevocation returns the revocation recorded in dir for leaf, nil if
// there is none.
func (c *Certs) loadRevocation(ctx context.Context, dir string, leaf *x509.Certificate) (*Revocation, error) {
	serial := serialOf(leaf)
	if serial == "" {
		return nil, nil
	}
	return c.loadRevocationKey(ctx, dir+"/"+serial+".json")
}

// loadRevocationKey returns the revocation recorded at key, nil if there
// is none.
func (c *Certs) loadRevocationKey(ctx context.Context, key string) (*Revocation, error) {
	raw, err := c.Store.Get(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r Revocation
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("store: %s: %w", key, err)
	}
	return &r, nil
}
