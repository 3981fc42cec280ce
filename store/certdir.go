package store

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"path"
	"strings"
)

// certDirs returns the certificate directories under prefix (which
// begins with "certificates/"): those with a pointer, a version or an
// unversioned cert.pem.
func (c *Certs) certDirs(ctx context.Context, prefix string) ([]string, error) {
	ks, err := c.Store.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, k := range ks {
		parts := strings.SplitN(k, "/", 5)
		if len(parts) < 4 || parts[0] != certsDir {
			continue
		}
		switch parts[3] {
		case certFile, pointerKey, versionsDir:
		default:
			continue
		}
		if _, err := DecodeName(parts[2]); err != nil {
			continue
		}
		// List is sorted, so a directory's keys are adjacent.
		dir := strings.Join(parts[:3], "/")
		if n := len(dirs); n == 0 || dirs[n-1] != dir {
			dirs = append(dirs, dir)
		}
	}
	return dirs, nil
}

// findCertDir returns the directory of the certificate called name from
// ca in LayoutStandard: where CADirName puts it, or where an older
// certkeeper put it if it is there and not (yet) at the new place.
func (c *Certs) findCertDir(ctx context.Context, ca, name string) (string, error) {
	dir, _, err := c.findCertDirN(ctx, ca, name)
	return dir, err
}

// findCertDirN is findCertDir, and the version its pointer named when
// it looked (0 if it did not read one), which saves LoadCertificate
// reading it twice.
func (c *Certs) findCertDirN(ctx context.Context, ca, name string) (string, int, error) {
	dir, err := c.certDir(ca, name)
	if err != nil {
		return "", 0, err
	}
	n, err := c.current(ctx, dir)
	if err != nil || n > 0 {
		return dir, n, err
	}
	// No pointer: an unversioned certificate, or none here.
	if _, err := c.Store.Stat(ctx, dir+"/"+certFile); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return dir, 0, err
	}
	dir, err = c.findOldCertDir(ctx, ca, dir)
	return dir, 0, err
}

// findOldCertDir is where an older certkeeper put the certificate that
// is not in dir, if it is there; else dir.
func (c *Certs) findOldCertDir(ctx context.Context, ca, dir string) (string, error) {
	old, err := legacyCADirName(ca)
	if err != nil {
		return dir, nil
	}
	oldDir := certDirOf(old, path.Base(dir))
	if oldDir == dir {
		return dir, nil
	}
	if ok, err := c.hasCert(ctx, oldDir); !ok || err != nil {
		return dir, err
	}
	// Another CA on the same host may own it.
	raw, err := c.Store.Get(ctx, oldDir+"/"+metaFile)
	if err != nil {
		return dir, ignoreMissing(err)
	}
	var m certMeta
	if json.Unmarshal(raw, &m) != nil || m.CA != ca {
		return dir, nil
	}
	return oldDir, nil
}

// hasCert reports whether dir holds a certificate: a pointer or an
// unversioned cert.pem.
func (c *Certs) hasCert(ctx context.Context, dir string) (bool, error) {
	n, err := c.current(ctx, dir)
	if err != nil || n > 0 {
		return n > 0, err
	}
	_, err = c.Store.Stat(ctx, dir+"/"+certFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// certDir is the directory of the certificate called name from ca in
// LayoutStandard (see standardScheme.certDir).
func (c *Certs) certDir(ca, name string) (string, error) {
	return standardScheme{baseScheme{c}}.certDir(ca, name)
}
