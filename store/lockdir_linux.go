//go:build linux

package store

import (
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockDirFD is lockDir opened once (O_PATH) by a process's lock holder,
// so that taking and releasing a lock are a link and a stat, a stat and
// an unlink, by base name in that directory: resolving the directory
// beneath the root again for each of them made a lock and its release a
// dozen system calls, and a renewal takes seven locks. A lockDir removed
// meanwhile makes the link fail (the holder file is gone with it), and
// the holder, made again, opens the new one (lockHolder.reopen).
type lockDirFD struct{ fd int }

// openLockDir opens lockDir beneath r; nil where r has no openat2 side
// (the holder then resolves every name beneath the root).
func openLockDir(r *tree) *lockDirFD {
	if r.sys == nil {
		return nil
	}
	fd, err := r.sys.openat2("open", lockDir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil
	}
	return &lockDirFD{fd: fd}
}

func (l *lockDirFD) close() { unix.Close(l.fd) }

// link makes the lock file p (lockDir/<base>) a hard link to the holder
// file h (lockDir/<base>); it fails with an error wrapping fs.ErrExist if
// p exists.
func (l *lockDirFD) link(h, p string) error {
	if err := ignoringEINTRErr(func() error { return unix.Linkat(l.fd, filepath.Base(h), l.fd, filepath.Base(p), 0) }); err != nil {
		return &os.LinkError{Op: "linkat", Old: h, New: p, Err: err}
	}
	return nil
}

// lstat describes the file p in lockDir, not following a link.
func (l *lockDirFD) lstat(p string) (fs.FileInfo, error) {
	fi := &statInfo{name: filepath.Base(p)}
	if err := ignoringEINTRErr(func() error { return unix.Fstatat(l.fd, fi.name, &fi.st, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	return fi, nil
}

// remove unlinks the file p in lockDir.
func (l *lockDirFD) remove(p string) error {
	if err := ignoringEINTRErr(func() error { return unix.Unlinkat(l.fd, filepath.Base(p), 0) }); err != nil {
		return &fs.PathError{Op: "remove", Path: p, Err: err}
	}
	return nil
}
