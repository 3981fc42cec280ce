package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultKeepVersions is how many previous versions of each certificate
// Certs keeps when Certs.KeepVersions is zero.
const DefaultKeepVersions = 5

// liveFiles are the files of a version that LayoutStandard also offers at
// the top of the certificate's directory, as links through live, when
// the current version has them (a certificate ordered with the caller's
// CSR has no key.pem, one saved by an older certkeeper perhaps no
// meta.json).
var liveFiles = [...]string{keyFile, certFile, combinedFile, metaFile}

// Version describes one version of a certificate kept by Certs (see
// Certs.Versions).
type Version struct {
	// ID numbers the version, from 1 up in the order they were saved.
	// In LayoutStandard, 0 stands for a certificate saved before
	// versions were kept (files at the top of its directory only); it is
	// given a number when the next version is saved.
	ID int
	// Current reports whether readers get this version now.
	Current bool
	// Serial is the leaf's serial number in lower-case hexadecimal.
	Serial string
	// NotBefore and NotAfter are the leaf's validity.
	NotBefore, NotAfter time.Time
	// ObtainedAt is when the version was issued to us, when known.
	ObtainedAt time.Time
	// HasKey reports whether the version holds its private key.
	HasKey bool
	// Revoked is the revocation recorded for the leaf, nil if none.
	Revoked *Revocation
	// Err says why the version cannot be read (such as a key that does
	// not match its leaf); the other fields but ID and Current are zero
	// then. Restore refuses such a version.
	Err error
}

// keep returns how many previous versions to keep.
func (c *Certs) keep() int {
	switch {
	case c.KeepVersions == 0:
		return DefaultKeepVersions
	case c.KeepVersions < 0:
		return 0
	}
	return c.KeepVersions
}

// certLock holds the lock that serialises the writers of one
// certificate's versions.
func (c *Certs) certLock(ctx context.Context, caDir, enc string) (func(), error) {
	unlock, err := c.Store.Lock(ctx, certLockName(caDir, enc))
	if err != nil {
		return nil, fmt.Errorf("store: locking %s/%s: %w", caDir, enc, err)
	}
	return func() { _ = unlock() }, nil
}

// certLockName names the lock of certLock.
func certLockName(caDir, enc string) string { return certLockPrefix + caDir + "/" + enc }

// parseVersion reads "versions/<n>" (a link target) or "<n>" (a pointer).
func parseVersion(s string) (int, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), versionsDir+"/")
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0 && strconv.Itoa(n) == s
}

// current returns the version the certificate in dir points to, or 0 if
// it has no pointer (a certificate in the unversioned layout, or none). A
// Linker store's pointer is the live link; another store's is the
// pointer key.
func (c *Certs) current(ctx context.Context, dir string) (int, error) {
	if l, ok := c.Store.(Linker); ok {
		t, err := l.Readlink(ctx, dir+"/"+liveLink)
		switch {
		case err == nil:
			if n, ok := parseVersion(t); ok {
				return n, nil
			}
			return 0, &foreignLiveError{key: dir + "/" + liveLink, target: t}
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrNotLink):
			return 0, err
		}
	}
	b, err := c.Store.Get(ctx, dir+"/"+pointerKey)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, ok := parseVersion(string(b))
	if !ok {
		return 0, fmt.Errorf("store: %s/%s holds %q, not a version number", dir, pointerKey, b)
	}
	return n, nil
}

// saveStandard writes res as a new version of the certificate in dir and
// switches the pointer to it, then prunes old versions; a certificate a
// version holds already is not written again (reuseWritten). The caller
// has checked the pair. It returns the number of the version made
// current.
func (c *Certs) saveStandard(ctx context.Context, caDir, enc string, res CertRecord, meta []byte) (int, error) {
	unlock, err := c.lockEntry(ctx, caDir, enc)
	if err != nil {
		return 0, err
	}
	defer unlock()
	dir := certDirOf(caDir, enc)
	vs, err := c.versionListing(ctx, dir)
	if err != nil {
		return 0, err
	}
	cur, foreign, err := c.currentForSave(ctx, dir, &vs)
	if err != nil {
		return 0, err
	}
	if n, err := c.reuseWritten(ctx, dir, cur, foreign, &vs, res, meta); n > 0 || err != nil {
		return n, err
	}
	ids := vs.ids
	next := 1
	if len(ids) > 0 {
		next = ids[len(ids)-1] + 1
	}
	if cur == 0 && !foreign {
		// A certificate in the unversioned layout becomes a version of
		// its own first, and the top of the directory is switched to it
		// (same contents), so that readers of the top-level files never
		// meet a missing file or a key from one save with the chain of
		// another.
		imported, err := c.importUnversioned(ctx, dir, next, &vs)
		if err != nil {
			return 0, err
		}
		if imported {
			ids = append(ids, next)
			next++
		}
	}
	has, err := c.writeVersion(ctx, dir, next, res.KeyPEM, res.ChainPEM, meta, &vs)
	if err != nil {
		return 0, err
	}
	if err := c.switchTo(ctx, dir, next, cur == 0, has); err != nil {
		return 0, err
	}
	return next, c.pruneFrom(ctx, dir, next, append(ids, next))
}

// writeVersion writes version n of the certificate in dir, its files
// the chain last: a version directory with a cert.pem is complete. It
// first removes a link standing there (unlinkVersion) and deletes what a
// writer that died while writing a version of this number left there
// (such as a key.pem that a version without a key would otherwise
// inherit), as the caller's listing of the versions, vs, says: no look is
// made for what it did not find (nil: both are looked for). A
// BatchPutter (Dir) writes the files with one wait for the disk, in the
// same order. It returns the set of the files written, by base name
// (keyFile, combinedFile…).
func (c *Certs) writeVersion(ctx context.Context, dir string, n int, keyPEM, chainPEM, meta []byte, vs *versionSet) (map[string]bool, error) {
	vdir := versionKey(dir, n)
	if link, known := vs.isLink(n); link || !known {
		if err := c.unlinkVersion(ctx, vdir); err != nil {
			return nil, err
		}
	}
	if vs == nil || vs.used[n] {
		if err := c.deleteTree(ctx, vdir); err != nil {
			return nil, err
		}
	}
	var files []Entry
	if len(keyPEM) > 0 {
		files = append(files, Entry{vdir + "/" + keyFile, keyPEM})
	}
	files = append(files, Entry{vdir + "/" + combinedFile, combine(keyPEM, chainPEM)})
	if meta != nil {
		files = append(files, Entry{vdir + "/" + metaFile, meta})
	}
	files = append(files, Entry{vdir + "/" + certFile, chainPEM})
	has := map[string]bool{}
	for _, f := range files {
		has[path.Base(f.Key)] = true
	}
	if b, ok := c.Store.(BatchPutter); ok {
		return has, b.PutBatch(ctx, files)
	}
	for _, f := range files {
		if err := c.Store.Put(ctx, f.Key, f.Value); err != nil {
			return nil, err
		}
	}
	return has, nil
}

// combine is the single-file form of a pair: the key (if there is one),
// then the chain.
func combine(keyPEM, chainPEM []byte) []byte {
	var b bytes.Buffer
	if len(bytes.TrimSpace(keyPEM)) > 0 {
		b.Write(bytes.TrimSpace(keyPEM))
		b.WriteByte('\n')
	}
	b.Write(chainPEM)
	return b.Bytes()
}

// importUnversioned copies the unversioned certificate at the top of dir,
// if there is one, into version n and switches to it. It reports whether
// there was one. vs is as for writeVersion.
func (c *Certs) importUnversioned(ctx context.Context, dir string, n int, vs *versionSet) (bool, error) {
	chain, err := c.Store.Get(ctx, dir+"/"+certFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	key, err := c.Store.Get(ctx, dir+"/"+keyFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	// Even a pair that does not match (an older program saving
	// meanwhile) is kept: no key is ever lost.
	meta, err := c.Store.Get(ctx, dir+"/"+metaFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	has, err := c.writeVersion(ctx, dir, n, key, chain, meta, vs)
	if err != nil {
		return false, err
	}
	return true, c.switchTo(ctx, dir, n, true, has)
}

// switchTo makes version n the current one in one atomic step: the live
// link in a Linker store, the pointer key in others (then, if the
// certificate was unversioned before, its top-level files are removed).
//
// In a Linker store the top-level files are links through live, so that
// the one switch of live changes them all at once. The links to the files
// version n has are made before live is switched: on a first save they
// lead nowhere until then (readers find no certificate, as before the
// save), later they lead to the current version's files, so a reader sees
// every top-level file of the old version or every one of the new, even
// if the writer is killed between two steps. The links to files version n
// lacks (a key.pem, for a certificate ordered with the caller's CSR) are
// removed after the switch; dangling until then, they read as missing, as
// in version n. Top-level files that are not links (a certificate saved
// before versions were kept, imported into version n with the same
// contents) are replaced by links after the switch.
//
// has names the files version n holds, as writeVersion returns them;
// nil, and they are looked for.
func (c *Certs) switchTo(ctx context.Context, dir string, n int, wasUnversioned bool, has map[string]bool) error {
	if l, ok := c.Store.(Linker); ok {
		if has == nil {
			has = map[string]bool{}
			for _, f := range liveFiles {
				_, err := c.Store.Stat(ctx, versionKey(dir, n)+"/"+f)
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				has[f] = err == nil
			}
		}
		// right holds the links found right before the switch: under the
		// certificate's lock, the switch leaves them right.
		right := map[string]bool{}
		link := func(f string, beforeSwitch bool, t string, err error) error {
			if right[f] {
				return nil
			}
			want := liveLink + "/" + f
			switch {
			case err == nil && t == want:
				right[f] = true
				return nil
			case errors.Is(err, ErrNotLink) && beforeSwitch:
				return nil // a file of the unversioned layout: after the switch
			case err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrNotLink):
				return err
			}
			return l.Symlink(ctx, dir+"/"+f, want)
		}
		var present []string
		for _, f := range liveFiles {
			if has[f] {
				present = append(present, f)
			}
		}
		targets, errs := readlinks(ctx, l, dir, present)
		for i, f := range present {
			if err := link(f, true, targets[i], errs[i]); err != nil {
				return err
			}
		}
		if err := l.Symlink(ctx, dir+"/"+liveLink, versionsDir+"/"+strconv.Itoa(n)); err != nil {
			return err
		}
		for _, f := range liveFiles {
			if has[f] {
				if right[f] {
					continue
				}
				t, err := l.Readlink(ctx, dir+"/"+f)
				if err := link(f, false, t, err); err != nil {
					return err
				}
				continue
			}
			// No dangling link: a version without a key has no key.pem
			// at the top either.
			if err := ignoreMissing(c.Store.Delete(ctx, dir+"/"+f)); err != nil {
				return err
			}
		}
		// A pointer key left by a writer that could not link is stale.
		return ignoreMissing(c.Store.Delete(ctx, dir+"/"+pointerKey))
	}
	if err := c.Store.Put(ctx, dir+"/"+pointerKey, []byte(strconv.Itoa(n)+"\n")); err != nil {
		return err
	}
	if !wasUnversioned {
		return nil
	}
	for _, f := range liveFiles {
		if err := ignoreMissing(c.Store.Delete(ctx, dir+"/"+f)); err != nil {
			return err
		}
	}
	return nil
}

// prune deletes the versions beyond the newest c.keep() besides cur,
// which it never deletes.
func (c *Certs) prune(ctx context.Context, dir string, cur int) error {
	ids, err := c.versionIDs(ctx, dir)
	if err != nil {
		return err
	}
	return c.pruneFrom(ctx, dir, cur, ids)
}

// pruneFrom is prune for a caller that knows the versions stored, ids,
// ascending (cur among them), having listed them under the certificate's
// lock and written since only cur.
func (c *Certs) pruneFrom(ctx context.Context, dir string, cur int, ids []int) error {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	kept := 0
	for i := len(ids) - 1; i >= 0; i-- {
		id := ids[i]
		if id == cur {
			continue
		}
		if kept < c.keep() {
			kept++
			continue
		}
		if err := c.deleteTree(ctx, versionKey(dir, id)); err != nil {
			return err
		}
	}
	return nil
}

// deleteTree deletes every key under dir, the chain first so that a
// half-deleted version is not taken for a complete one; a flatDeleter
// (Dir) deletes a directory of files, such as a version, through it
// opened once.
func (c *Certs) deleteTree(ctx context.Context, dir string) error {
	if fd, ok := c.Store.(flatDeleter); ok {
		if done, err := fd.deleteFlat(ctx, dir, certFile); done || err != nil {
			return err
		}
	}
	ks, err := c.Store.List(ctx, dir+"/")
	if err != nil {
		return err
	}
	slices.SortStableFunc(ks, func(a, b string) int {
		ac, bc := path.Base(a) == certFile, path.Base(b) == certFile
		switch {
		case ac && !bc:
			return -1
		case bc && !ac:
			return 1
		}
		return 0
	})
	for _, k := range ks {
		if err := ignoreMissing(c.Store.Delete(ctx, k)); err != nil {
			return err
		}
	}
	if d, ok := c.Store.(*Dir); ok {
		d.removeEmptyDirs(dir)
	}
	return nil
}

// loadVersion reads version n of the certificate in dir.
//
// cert.pem is read last. A version's cert.pem is written after its other
// files (writeVersion) and deleted before them (deleteTree), so a reader
// that still finds cert.pem after reading key.pem and meta.json read them
// from a whole version: a missing key.pem then means the version has no
// key, not that a prune was deleting it meanwhile. Read first, cert.pem
// could be the chain of a version whose key.pem a prune deleted before it
// was read, which looked like a version without a key.
func (c *Certs) loadVersion(ctx context.Context, dir string, n int) (CertRecord, error) {
	vdir := versionKey(dir, n)
	key, err := c.Store.Get(ctx, vdir+"/"+keyFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return CertRecord{}, err
	}
	meta, err := c.Store.Get(ctx, vdir+"/"+metaFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return CertRecord{}, err
	}
	chain, err := c.Store.Get(ctx, vdir+"/"+certFile)
	if err != nil {
		return CertRecord{}, err
	}
	return c.record(ctx, vdir, key, chain, meta)
}
