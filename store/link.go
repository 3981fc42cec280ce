package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"syscall"
)

// ErrNotLink is wrapped by the error of Linker.Readlink for a key that
// exists but is not a symbolic link.
var ErrNotLink = errors.New("store: not a symbolic link")

// Linker is an optional interface of a Store that can make symbolic links
// inside itself, so that a pointer can name one of several directories and
// be switched in one atomic step. Dir implements it; Certs uses it to
// switch a certificate's key and chain together (see Certs).
//
// Contract:
//   - Symlink makes key a symbolic link to target, a relative
//     slash-separated path resolved from key's directory, replacing
//     atomically whatever link or file key was (not a directory). The
//     resolved target MUST be a valid key: no link leads outside the
//     store. The target need not exist. The change is durable when
//     Symlink returns.
//   - Readlink returns the target of the link at key as Symlink was given
//     it, an error wrapping fs.ErrNotExist if key does not exist, and one
//     wrapping ErrNotLink if it is not a link.
//   - Get, Stat and List follow links; Delete removes the link itself.
//
// Certs switches versions with links when its Store is a Linker and with a
// pointer key otherwise. It reads a store written either way, and a save
// through the Linker takes over one written without; but a store written
// with links must not then be written through a wrapper that hides the
// Linker, whose pointer key would be ignored by readers that see the
// links.
type Linker interface {
	Symlink(ctx context.Context, key, target string) error
	Readlink(ctx context.Context, key string) (string, error)
}

var _ Linker = (*Dir)(nil)

// Symlink makes key a symbolic link to target (see Linker): it creates
// the link under a temporary name in key's directory and renames it over
// key, then syncs the directory, all through the directory opened once
// (a live link's switch: an open, the symlink, the rename, the sync and
// a close, where each step opened and closed the directory).
func (d *Dir) Symlink(ctx context.Context, key, target string) (err error) {
	r, err := d.open(ctx, "symlink", key)
	if err != nil {
		return err
	}
	defer r.Close()
	if target == "" || path.IsAbs(target) || ValidateKey(path.Join(path.Dir(key), target)) != nil {
		return fmt.Errorf("store: symlink %s: %w: target %q is not a key relative to %s", key, ErrInvalidKey, target, path.Dir(key))
	}
	name := filepath.FromSlash(key)
	dir, base := filepath.Dir(name), filepath.Base(name)
	st, err := r.subSynced(dir)
	if errors.Is(err, fs.ErrNotExist) { // the directories are made when missing
		if err := mkdirs(r, dir); err != nil {
			return pathErr("symlink", key, err)
		}
		st, err = r.subSynced(dir)
	}
	if err != nil {
		return pathErr("symlink", key, err)
	}
	defer st.Close()
	tmp, err := makeTemp(".", base, func(tmp string) error { return st.Symlink(filepath.FromSlash(target), tmp) })
	if err != nil {
		return pathErr("symlink", key, err)
	}
	if err := ctx.Err(); err != nil {
		st.Remove(tmp)
		return err
	}
	if err := st.Rename(tmp, base); err != nil {
		st.Remove(tmp)
		return pathErr("symlink", key, err)
	}
	if err := syncDir(st, "."); err != nil {
		return pathErr("symlink", key, err)
	}
	return nil
}

// Readlink returns the target of the symbolic link at key (see Linker).
func (d *Dir) Readlink(ctx context.Context, key string) (string, error) {
	if err := check(ctx, "readlink", key); err != nil {
		return "", err
	}
	reader, err := d.current()
	if err != nil {
		return "", fmt.Errorf("store: readlink %s: %w", key, err)
	}
	defer reader.Close()
	return readlinkIn(reader, filepath.FromSlash(key), key)
}

// readlinkIn reads the link name in r, reporting errors about key:
// ErrNotLink for what is not a link. No lstat first: readlink(2) itself
// says EINVAL for what is not a link (Certs reads a dozen links per save).
func readlinkIn(r *tree, name, key string) (string, error) {
	t, err := r.Readlink(name)
	if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, fs.ErrNotExist) {
		// A system that words "not a link" otherwise (Windows) is asked.
		if fi, lerr := r.Lstat(name); lerr == nil && fi.Mode()&fs.ModeSymlink == 0 {
			err = syscall.EINVAL
		}
	}
	if errors.Is(err, syscall.EINVAL) {
		return "", &fs.PathError{Op: "readlink", Path: key, Err: ErrNotLink}
	}
	if err != nil {
		return "", pathErr("readlink", key, err)
	}
	return filepath.ToSlash(t), nil
}

// linkReader is implemented by a Linker store that reads several links
// of one directory through it opened once (Dir): a save reads the
// top-level links of a certificate's directory, and each Readlink opened
// and closed the directory around its readlink.
type linkReader interface {
	// readlinks returns, for each of names (last components of keys in
	// the key prefix dir, without its trailing slash), what Readlink of
	// dir/name returns.
	readlinks(ctx context.Context, dir string, names []string) ([]string, []error)
}

var _ linkReader = (*Dir)(nil)

func (d *Dir) readlinks(ctx context.Context, dir string, names []string) ([]string, []error) {
	targets, errs := make([]string, len(names)), make([]error, len(names))
	fail := func(err error) ([]string, []error) {
		for i := range errs {
			errs[i] = err
		}
		return targets, errs
	}
	if err := check(ctx, "readlink", dir+"/"+names[0]); err != nil {
		return fail(err)
	}
	reader, err := d.current()
	if err != nil {
		return fail(fmt.Errorf("store: readlink %s: %w", dir, err))
	}
	defer reader.Close()
	sub, err := reader.sub(filepath.FromSlash(dir))
	if err != nil {
		// No directory: each link is as missing as Readlink says.
		for i, n := range names {
			targets[i], errs[i] = readlinkIn(reader, filepath.FromSlash(dir+"/"+n), dir+"/"+n)
		}
		return targets, errs
	}
	defer sub.Close()
	for i, n := range names {
		if err := check(ctx, "readlink", dir+"/"+n); err != nil {
			errs[i] = err
			continue
		}
		targets[i], errs[i] = readlinkIn(sub, n, dir+"/"+n)
	}
	return targets, errs
}

// readlinks reads the links names in dir through l (see linkReader).
func readlinks(ctx context.Context, l Linker, dir string, names []string) ([]string, []error) {
	if lr, ok := l.(linkReader); ok && len(names) > 0 {
		return lr.readlinks(ctx, dir, names)
	}
	targets, errs := make([]string, len(names)), make([]error, len(names))
	for i, n := range names {
		targets[i], errs[i] = l.Readlink(ctx, dir+"/"+n)
	}
	return targets, errs
}

// removeEmptyDirs removes dir (a key) and the directories under it that
// are empty, deepest first; a directory that is not empty stays. Only
// callers that hold the lock of what is under dir use it: a Put racing
// with it could find its directory gone.
func (d *Dir) removeEmptyDirs(dir string) {
	r, err := d.current()
	if err != nil {
		return
	}
	defer r.Close()
	var dirs []string
	fs.WalkDir(r.FS(), dir, func(p string, de fs.DirEntry, err error) error {
		if err == nil && de.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if r.Remove(filepath.FromSlash(dirs[i])) == nil {
			syncDir(r, filepath.Dir(filepath.FromSlash(dirs[i])))
		}
	}
}
