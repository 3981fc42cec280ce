package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// The live link of a certificate (LayoutStandard in a Linker store) is
// the store's own: only switchTo writes it, always to "versions/<n>". One
// that leads anywhere else was planted or corrupted; a reader reports it
// (foreignLiveError), and a save replaces it in the one atomic step that
// switches to the version it wrote, as it would replace its own.

// foreignLiveError is the error of current for a live link whose target is
// not one of the certificate's versions.
type foreignLiveError struct {
	key, target string
}

func (e *foreignLiveError) Error() string {
	return fmt.Sprintf("store: %s points to %q, not to a version", e.key, e.target)
}

// currentForSave is current for a writer holding the certificate's lock:
// a live link that is not the store's (foreignLiveError), or one to a
// version that is itself a link (the store makes each version a
// directory), counts as no current version, with foreign true, so that
// the save makes its own (and imports no top-level files, which are links
// through it). vs, the writer's listing of the versions made under the
// same lock, tells whether the version is a link, when it knows (a
// versionLister's); else, or with vs nil, it is read.
func (c *Certs) currentForSave(ctx context.Context, dir string, vs *versionSet) (n int, foreign bool, err error) {
	n, err = c.current(ctx, dir)
	var fl *foreignLiveError
	if errors.As(err, &fl) {
		return 0, true, nil
	}
	if err != nil || n == 0 {
		return n, false, err
	}
	if link, known := vs.isLink(n); known {
		if link {
			return 0, true, nil
		}
		return n, false, nil
	}
	if l, ok := c.Store.(Linker); ok {
		if _, err := l.Readlink(ctx, versionKey(dir, n)); err == nil {
			return 0, true, nil
		}
	}
	return n, false, nil
}

// unlinkVersion removes a link standing where the store writes the
// version directory vdir (planted or corrupt: the store makes versions
// as directories), the link itself, never what it leads to, so that the
// version is written inside the store.
func (c *Certs) unlinkVersion(ctx context.Context, vdir string) error {
	l, ok := c.Store.(Linker)
	if !ok {
		return nil
	}
	if _, err := l.Readlink(ctx, vdir); err != nil {
		return nil // none, or not a link: writeVersion's own business
	}
	return ignoreMissing(c.Store.Delete(ctx, vdir))
}

// CheckSave reports whether SaveCertificate could store a certificate
// called name from the CA with directory URL ca, as far as the store can
// tell without writing: in LayoutStandard on a Linker store (Dir), that
// nothing stands where the save puts its links (the live link and the
// top-level key.pem, cert.pem, combined.pem, meta.json) that it cannot
// replace atomically: a link of any target or a file is replaced, a
// directory (or a device, a socket…) is not; and that the directory of
// its versions is one, which the system lets this process write into
// (its permissions, a read-only mount). A caller checks it before
// ordering, so that a certificate the CA would issue is not one the store
// refuses. The error names the key and the store's directory, if it has
// one; it wraps ErrInvalidKey for a ca or name that cannot be stored.
func (c *Certs) CheckSave(ctx context.Context, ca, name string) error {
	s, ok := c.scheme().(standardScheme)
	l, linker := c.Store.(Linker)
	if !ok || !linker {
		return nil
	}
	caDir, enc, err := s.entryNames(ca, name)
	if err != nil {
		return err
	}
	dir := certDirOf(caDir, enc)
	names := append([]string{liveLink}, liveFiles[:]...)
	_, errs := readlinks(ctx, l, dir, names)
	for i, f := range names {
		key := dir + "/" + f
		if !errors.Is(errs[i], ErrNotLink) {
			continue // a link, none, or unreadable (which the save reports)
		}
		_, err := c.Store.Stat(ctx, key)
		if err == nil {
			continue // a file: replaced
		}
		where := key
		if p, ok := c.Store.(pather); ok {
			if abs, err := p.Path(key); err == nil {
				where = abs
			}
		}
		kind := "not a file or a link"
		if errors.Is(err, fs.ErrNotExist) {
			kind = "a directory" // Stat reads one as no key
		}
		what := "the link " + f + " to the current version's file"
		if f == liveLink {
			what = "the link to the current version"
		}
		return fmt.Errorf("store: %s is %s, where the store keeps %s: a certificate saved now could not replace it; move it away", where, kind, what)
	}
	// Where the new version goes: versions/ (or the nearest directory
	// above it that exists) a directory the system lets this process
	// write into.
	return c.checkWritableDir(ctx, dir+"/"+versionsDir)
}

// ErrBrokenPointer is wrapped by CertRecord.PointerErr: the pointer to a
// certificate's current version (in a Dir, the live link; in a store
// without links, the "current" key) is missing, or leads to a version
// without its chain (dangling, or a version directory deleted by hand),
// although whole versions are kept. Readers then read the newest whole
// version (see LayoutStandard); the next save of the certificate makes the
// pointer, and the top-level links through it, right again.
var ErrBrokenPointer = errors.New("store: the pointer to the current version is broken")

// brokenPointer is the CertRecord.PointerErr of a certificate in dir whose
// pointer named version n (0: none) and which was read from version read.
func (c *Certs) brokenPointer(dir string, n, read int) error {
	key := dir + "/" + pointerKey
	if _, ok := c.Store.(Linker); ok {
		key = dir + "/" + liveLink
	}
	what := "is missing"
	if n > 0 {
		what = fmt.Sprintf("leads to %s/%d, which holds no %s", versionsDir, n, certFile)
	}
	return fmt.Errorf("%w: %s %s; read %s/%d, the newest whole version, until the next save makes it right",
		ErrBrokenPointer, key, what, versionsDir, read)
}

// newestWhole reads, for a reader of the certificate in dir whose pointer
// is broken (it named version n, 0 for none), the newest version that
// reads whole: its cert.pem there, parsed, and its key.pem, if any,
// matching the leaf. Versions that do not (pruned meanwhile, half written
// or half deleted, corrupt) are passed over. The record's PointerErr says
// so. No such version gives an error wrapping fs.ErrNotExist.
func (c *Certs) newestWhole(ctx context.Context, dir string, n int) (CertRecord, error) {
	ids, err := c.versionIDs(ctx, dir)
	if err != nil {
		return CertRecord{}, err
	}
	for i := len(ids) - 1; i >= 0; i-- {
		res, err := c.loadVersion(ctx, dir, ids[i])
		if err := ctx.Err(); err != nil {
			return CertRecord{}, err
		}
		if err != nil {
			continue
		}
		res.Version = ids[i]
		if ids[i] != n {
			res.PointerErr = c.brokenPointer(dir, n, ids[i])
		}
		return res, nil
	}
	return CertRecord{}, fmt.Errorf("store: %s: no whole version: %w", dir, fs.ErrNotExist)
}

// pointerMissing reports, for the certificate in dir whose pointer
// current found none of, whether one is missing: nothing at live (in a
// Linker store) and no cert.pem of the unversioned layout at the top. A
// live that is something else than a link (a directory, a file: put there
// by hand) is not taken for a missing one: its top-level cert.pem is read
// as before, and CheckSave refuses to order over it.
func (c *Certs) pointerMissing(ctx context.Context, dir string) (bool, error) {
	if l, ok := c.Store.(Linker); ok {
		_, err := l.Readlink(ctx, dir+"/"+liveLink)
		if !errors.Is(err, fs.ErrNotExist) {
			return false, ignoreNotLink(err)
		}
	}
	_, err := c.Store.Stat(ctx, dir+"/"+certFile)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	return false, err
}

func ignoreNotLink(err error) error {
	if errors.Is(err, ErrNotLink) {
		return nil
	}
	return err
}

// hasChain reports whether the version in vdir has its cert.pem: in a
// Linker store by one readlink, which says "not a link" of a file that
// is there.
func (c *Certs) hasChain(ctx context.Context, vdir string) (bool, error) {
	var err error
	if l, ok := c.Store.(Linker); ok {
		_, err = l.Readlink(ctx, vdir+"/"+certFile)
		err = ignoreNotLink(err)
	} else {
		_, err = c.Store.Stat(ctx, vdir+"/"+certFile)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// readVersion is the version readers of the certificate in dir read
// (Versions marks it current; StoredVersion reads the pointer alone): the one its pointer names, when that version has its
// chain; the newest whole version, when the pointer is missing or leads
// to a version without its chain (newestWhole); 0 for a certificate of
// the unversioned layout, or none. A pointer that leads to a version
// without its chain when no version is whole is given as it is (readers
// find no certificate).
func (c *Certs) readVersion(ctx context.Context, dir string) (int, error) {
	n, err := c.current(ctx, dir)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		if ok, err := c.hasChain(ctx, versionKey(dir, n)); ok || err != nil {
			return n, err
		}
	} else if missing, err := c.pointerMissing(ctx, dir); !missing || err != nil {
		return 0, err
	}
	res, err := c.newestWhole(ctx, dir, n)
	if errors.Is(err, fs.ErrNotExist) {
		return n, nil
	}
	return res.Version, err
}
