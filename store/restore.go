package store

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
)

// Versions returns the versions kept of the certificate called name from
// the CA with directory URL ca, oldest first; one of them is Current. A
// certificate that is not stored gives an error wrapping fs.ErrNotExist.
// In LayoutShared, a "<name>.pem" that no version matches (written by
// another program) is not listed; no version is Current then.
func (c *Certs) Versions(ctx context.Context, ca, name string) ([]Version, error) {
	return c.scheme().versions(ctx, ca, name)
}

// StoredVersion returns the number of the version of the certificate
// called name from the CA with directory URL ca that LoadCertificate
// would read now (CertRecord.Version), reading only the store's pointer to
// it (in a Dir, the target of the live link), not its files: a caller
// holding a record of version n knows it is still the one stored while
// StoredVersion gives n. A version's number names one certificate until
// the certificate is deleted (DeleteCertificate); its revocation is
// recorded apart and changes no number. It returns 0 when the store keeps
// the certificate without versions (LayoutShared, or one an older
// certkeeper stored) or none is stored: only LoadCertificate tells then.
//
// It reads the pointer alone: when the pointer is missing or leads to a
// version without its chain (see CertRecord.PointerErr), readers read the
// newest whole version, whose number it does not give (0 for a missing
// pointer, the pointer's number else), so that a caller holding that
// record reads the certificate again until a save makes the pointer
// right; cheap where it matters, at the price of reads in a store so
// broken.
func (c *Certs) StoredVersion(ctx context.Context, ca, name string) (int, error) {
	if c.Layout == LayoutShared {
		return 0, nil
	}
	dir, err := c.certDir(ca, name)
	if err != nil {
		return 0, err
	}
	return c.current(ctx, dir)
}

func (s standardScheme) versions(ctx context.Context, ca, name string) ([]Version, error) {
	c := s.c
	dir, err := c.findCertDir(ctx, ca, name)
	if err != nil {
		return nil, err
	}
	cur, err := c.readVersion(ctx, dir)
	if err != nil {
		return nil, err
	}
	if cur == 0 {
		res, err := c.loadStandardAt(ctx, dir)
		if err != nil {
			return nil, err
		}
		return []Version{describe(0, true, res)}, nil
	}
	ids, err := c.versionIDs(ctx, dir)
	if err != nil {
		return nil, err
	}
	var out []Version
	for _, id := range ids {
		res, err := c.loadVersion(ctx, dir, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // pruned meanwhile
		}
		if err != nil {
			out = append(out, Version{ID: id, Current: id == cur, Err: fmt.Errorf("store: %s: %w", versionKey(dir, id), err)})
			continue
		}
		out = append(out, describe(id, id == cur, res))
	}
	return out, nil
}

func describe(id int, current bool, res CertRecord) Version {
	v := Version{ID: id, Current: current, ObtainedAt: res.ObtainedAt, HasKey: len(res.KeyPEM) > 0, Revoked: res.Revoked}
	if len(res.Certificates) > 0 {
		leaf := res.Certificates[0]
		v.Serial, v.NotBefore, v.NotAfter = serialOf(leaf), leaf.NotBefore, leaf.NotAfter
	}
	return v
}

// serialOf is the leaf's serial in lower-case hexadecimal.
func serialOf(leaf *x509.Certificate) string {
	if leaf == nil || leaf.SerialNumber == nil {
		return ""
	}
	return leaf.SerialNumber.Text(16)
}

// Restore makes version id (see Versions) of the certificate called name
// from the CA with directory URL ca the current one again, in one atomic
// step like a save. The version is checked (key matches leaf) first. A
// version that is not kept gives an error wrapping fs.ErrNotExist.
// Versions newer than id are kept; the next save comes after the newest.
func (c *Certs) Restore(ctx context.Context, ca, name string, id int) error {
	if err := c.migrateOnce(ctx); err != nil {
		return err
	}
	return c.scheme().restore(ctx, ca, name, id)
}

// restore switches the pointer back to version id.
func (s standardScheme) restore(ctx context.Context, ca, name string, id int) error {
	c := s.c
	caDir, enc, err := s.entryNames(ca, name)
	if err != nil {
		return err
	}
	unlock, err := c.lockEntry(ctx, caDir, enc)
	if err != nil {
		return err
	}
	defer unlock()
	dir := certDirOf(caDir, enc)
	if id <= 0 {
		return fmt.Errorf("store: restore %s version %d: %w", name, id, fs.ErrNotExist)
	}
	if _, err := c.loadVersion(ctx, dir, id); err != nil {
		return fmt.Errorf("store: restore %s version %d: %w", name, id, err)
	}
	if err := c.switchTo(ctx, dir, id, false, nil); err != nil {
		return err
	}
	_ = c.Reindex(ctx, ca, name)
	return nil
}
