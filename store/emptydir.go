package store

import (
	"context"
	"path/filepath"
)

// RemoveEmptyDir removes the directory of the certificate called name
// from the CA with directory URL ca when nothing is stored in it, as
// after a first obtain that failed and whose lineage record was deleted:
// in LayoutStandard on a Dir, under the certificate's lock (the one its
// keys are written under), the directory and the empty directories in it;
// a directory that holds anything stays. Other layouts and stores keep no
// directories: it does nothing. It returns an error only for a ca or name
// that cannot be stored (wrapping ErrInvalidKey) or a lock not taken.
func (c *Certs) RemoveEmptyDir(ctx context.Context, ca, name string) error {
	s, ok := c.scheme().(standardScheme)
	d, isDir := c.Store.(*Dir)
	if !ok || !isDir {
		return nil
	}
	caDir, enc, err := s.entryNames(ca, name)
	if err != nil {
		return err
	}
	unlock, err := c.certLock(ctx, caDir, enc)
	if err != nil {
		return err
	}
	defer unlock()
	d.removeEmptyDirs(filepath.ToSlash(certDirOf(caDir, enc)))
	return nil
}
