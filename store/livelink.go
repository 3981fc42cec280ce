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
// through it).
func (c *Certs) currentForSave(ctx context.Context, dir string) (n int, foreign bool, err error) {
	n, err = c.current(ctx, dir)
	var fl *foreignLiveError
	if errors.As(err, &fl) {
		return 0, true, nil
	}
	if err != nil || n == 0 {
		return n, false, err
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
