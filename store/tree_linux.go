//go:build linux

package store

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// sysTree is a tree's openat2 side: the root held as an O_PATH
// descriptor, every name resolved beneath it by the kernel in one call
// (RESOLVE_BENEATH: no absolute link, no ".." above the root, no escape
// through a link; RESOLVE_NO_MAGICLINKS: no /proc/self/fd shortcut).
type sysTree struct {
	fd   int
	path string
	// dev and ino identify the directory opened (see same).
	dev, ino uint64
	// opened is when it was opened (a monotonic reading); sameAt is when
	// (since opened, in nanoseconds) same last found it at path, and
	// sameFor how long that answer stands (see same).
	opened  time.Time
	sameAt  atomic.Int64
	sameFor time.Duration
	// readable says that fd was opened for reading, not O_PATH: it can
	// be synced (see tree.subSynced).
	readable bool
}

// sameFor is how long a check that a Dir's root is still at its path
// stands: a store replaced under a running process is read and written
// where its path leads from at most this long after the replacement (a
// write already under way then goes where it began, as it would
// anyway), and a renewal's two dozen operations stat the root once
// rather than each (a tenth of the store's CPU time in a renewal storm).
const sameFor = time.Millisecond

const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS

// errNoOpenat2 marks an openat2 call the system refused: a kernel before
// 5.6 (ENOSYS), or a seccomp filter of a container runtime that does not
// know the call (ENOSYS, or EPERM in older profiles).
var errNoOpenat2 = errors.New("store: openat2 not available")

// errEscapes is what a name whose resolution would leave the root gets
// (openat2's EXDEV under RESOLVE_BENEATH): a symbolic link in the store
// that points outside it, or an absolute one. The kernel's own words,
// "invalid cross-device link", told a user nothing; os.Root, before,
// said "path escapes from parent".
var errEscapes = errors.New("path escapes from the store (a symbolic link on it leads outside the store's directory)")

func openSysTree(path string) (*sysTree, error) {
	fd, err := ignoringEINTR(func() (int, error) {
		return unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := ignoringEINTRErr(func() error { return unix.Fstat(fd, &st) }); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return &sysTree{fd: fd, path: path, dev: uint64(st.Dev), ino: uint64(st.Ino), opened: time.Now(), sameFor: sameFor}, nil
}

// sub opens the directory dir beneath s (see tree.sub), for reading if
// readable is set (see tree.subSynced), else O_PATH; its dev and ino are
// not filled in (same is for a Dir's root alone).
func (s *sysTree) sub(dir string, readable bool) (*sysTree, error) {
	flags := unix.O_PATH | unix.O_DIRECTORY
	if readable {
		flags = unix.O_RDONLY | unix.O_DIRECTORY
	}
	fd, err := s.openat2("open", dir, flags, 0)
	if err != nil {
		return nil, err
	}
	return &sysTree{fd: fd, path: filepath.Join(s.path, dir), readable: readable}, nil
}

// same reports whether the directory at s.path is still the one s holds
// open: one stat, where opening it again costs an open and a close. The
// descriptor held keeps the directory's inode allocated, so no directory
// made there since can have the same device and inode.
// An answer true stands for sameFor.
func (s *sysTree) same() bool {
	since := time.Since(s.opened)
	if at := s.sameAt.Load(); at > 0 && since-time.Duration(at) < s.sameFor {
		return true
	}
	var st unix.Stat_t
	if ignoringEINTRErr(func() error { return unix.Stat(s.path, &st) }) != nil {
		return false
	}
	ok := uint64(st.Dev) == s.dev && uint64(st.Ino) == s.ino
	if ok {
		s.sameAt.Store(int64(max(since, 1)))
	}
	return ok
}

func (s *sysTree) close() error { return unix.Close(s.fd) }

func (s *sysTree) unsupported(err error) bool { return errors.Is(err, errNoOpenat2) }

// openat2 opens name beneath the root. A refused call is reported as
// errNoOpenat2 (see tree.fallback); a resolution the kernel asks to be
// tried again (EAGAIN: a rename raced with a ".." in a link's target) is
// tried again.
func (s *sysTree) openat2(op, name string, flags int, perm fs.FileMode) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveBeneath}
	if flags&(unix.O_CREAT|unix.O_TMPFILE) != 0 {
		how.Mode = uint64(perm.Perm())
	}
	var (
		fd  int
		err error
	)
	for range 16 {
		fd, err = unix.Openat2(s.fd, name, &how)
		if err != unix.EINTR && err != unix.EAGAIN {
			break
		}
	}
	switch err {
	case nil:
		return fd, nil
	case unix.ENOSYS, unix.EPERM:
		// EPERM may also be a true answer (an immutable file opened for
		// writing): os.Root, asked again, gives it.
		return -1, errNoOpenat2
	case unix.EXDEV:
		return -1, &fs.PathError{Op: op, Path: name, Err: errEscapes}
	}
	return -1, &fs.PathError{Op: op, Path: name, Err: err}
}

// rawFile is a descriptor opened beneath the root, for a write or a sync
// (see writeFile).
type rawFile struct {
	fd   int
	name string
}

// syncDir opens the directory name and fsyncs it; "." in a tree opened
// for reading (tree.subSynced) is synced through the tree's descriptor.
func (s *sysTree) syncDir(name string) error {
	if name == "." && s.readable {
		return (&rawFile{fd: s.fd, name: s.path}).Sync()
	}
	f, err := s.openRaw("open", name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *sysTree) openRaw(op, name string, flag int, perm fs.FileMode) (*rawFile, error) {
	fd, err := s.openat2(op, name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &rawFile{fd: fd, name: name}, nil
}

func (f *rawFile) Chmod(mode fs.FileMode) error {
	if err := ignoringEINTRErr(func() error { return unix.Fchmod(f.fd, uint32(mode.Perm())) }); err != nil {
		return &fs.PathError{Op: "chmod", Path: f.name, Err: err}
	}
	return nil
}

func (f *rawFile) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := ignoringEINTR(func() (int, error) { return unix.Write(f.fd, b[n:]) })
		if err != nil {
			return n, &fs.PathError{Op: "write", Path: f.name, Err: err}
		}
		if m == 0 {
			return n, &fs.PathError{Op: "write", Path: f.name, Err: io.ErrShortWrite}
		}
		n += m
	}
	return n, nil
}

// Seek sets the offset for the next write, as os.File's Seek does.
func (f *rawFile) Seek(offset int64, whence int) (int64, error) {
	off, err := unix.Seek(f.fd, offset, whence)
	if err != nil {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: err}
	}
	return off, nil
}

func (f *rawFile) Sync() error {
	if err := ignoringEINTRErr(func() error { return unix.Fsync(f.fd) }); err != nil {
		return &fs.PathError{Op: "sync", Path: f.name, Err: err}
	}
	return nil
}

func (f *rawFile) Close() error {
	if f.fd < 0 {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	err := unix.Close(f.fd)
	f.fd = -1
	if err != nil && err != unix.EINTR {
		return &fs.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

func (s *sysTree) openFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	fd, err := s.openat2("open", name, flag, perm)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(s.path, name)), nil
}

func (s *sysTree) stat(name string, follow bool) (fs.FileInfo, error) {
	flags := unix.O_PATH
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := s.openat2("stat", name, flags, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	// fstat on an O_PATH descriptor describes what it names: with
	// O_NOFOLLOW, a final link itself. No os.File: its making and closing
	// cost two more system calls (fcntl, and the poller's), a third of a
	// stat's.
	fi := &statInfo{name: filepath.Base(name)}
	if err := ignoringEINTRErr(func() error { return unix.Fstat(fd, &fi.st) }); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return fi, nil
}

// chmod changes the mode of the directory or file name, not following a
// final link (a link there is refused, as os.Root's Chmod follows it only
// beneath the root): opened, then fchmod, where os.Root opens and closes
// every directory on the way.
func (s *sysTree) chmod(name string, mode fs.FileMode) error {
	fd, err := s.openat2("chmod", name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := ignoringEINTRErr(func() error { return unix.Fchmod(fd, uint32(mode.Perm())) }); err != nil {
		return &fs.PathError{Op: "chmod", Path: name, Err: err}
	}
	return nil
}

// readRegular reads the regular file name, refusing one larger than max
// bytes (errTooBig, with its size) and anything not a regular file
// (errNotRegular; a directory is fs.ErrNotExist's caller's business: its
// FileInfo is returned with the error). It opens without blocking (a
// FIFO planted in the tree would block a plain open) and reads through
// the descriptor itself: one openat2, one fstat, the reads and a close.
func (s *sysTree) readRegular(name string, max int64) ([]byte, fs.FileInfo, error) {
	fd, err := s.openat2("open", name, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(fd)
	fi := &statInfo{name: filepath.Base(name)}
	if err := ignoringEINTRErr(func() error { return unix.Fstat(fd, &fi.st) }); err != nil {
		return nil, nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if !fi.Mode().IsRegular() {
		return nil, fi, errNotRegular
	}
	if fi.Size() > max {
		return nil, fi, errTooBig
	}
	// Sized from the fstat: one allocation for a file that does not grow
	// meanwhile; read until the end, so a file that grew is read whole
	// (up to max+1 bytes, which the caller refuses).
	data := make([]byte, 0, fi.Size()+1)
	for int64(len(data)) <= max {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		end := min(int64(cap(data)), max+1)
		n, err := ignoringEINTR(func() (int, error) { return unix.Read(fd, data[len(data):end]) })
		if err != nil {
			return nil, fi, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if n == 0 {
			break
		}
		data = data[:len(data)+n]
	}
	return data, fi, nil
}

// parent opens the directory of name and returns it with name's last
// element; done closes it.
func (s *sysTree) parent(op, name string) (dirfd int, base string, done func(), err error) {
	dir, base := filepath.Split(name)
	if dir == "" {
		return s.fd, base, func() {}, nil
	}
	fd, err := s.openat2(op, dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, "", nil, err
	}
	return fd, base, func() { unix.Close(fd) }, nil
}

func (s *sysTree) remove(name string) error {
	pfd, base, done, err := s.parent("remove", name)
	if err != nil {
		return err
	}
	defer done()
	err = unix.Unlinkat(pfd, base, 0)
	if err == unix.EISDIR {
		err = unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR)
	}
	if err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	return nil
}

func (s *sysTree) rename(oldname, newname string) error {
	return s.parents("rename", oldname, newname, func(ofd int, obase string, nfd int, nbase string) error {
		if err := unix.Renameat(ofd, obase, nfd, nbase); err != nil {
			return &os.LinkError{Op: "renameat", Old: oldname, New: newname, Err: err}
		}
		return nil
	})
}

func (s *sysTree) symlink(target, name string) error {
	pfd, base, done, err := s.parent("symlink", name)
	if err != nil {
		return err
	}
	defer done()
	if err := unix.Symlinkat(target, pfd, base); err != nil {
		return &os.LinkError{Op: "symlinkat", Old: target, New: name, Err: err}
	}
	return nil
}

func (s *sysTree) link(oldname, newname string) error {
	return s.parents("link", oldname, newname, func(ofd int, obase string, nfd int, nbase string) error {
		if err := unix.Linkat(ofd, obase, nfd, nbase, 0); err != nil {
			return &os.LinkError{Op: "linkat", Old: oldname, New: newname, Err: err}
		}
		return nil
	})
}

// parents calls f with the directories of oldname and newname (one
// descriptor when they are the same) and their last elements.
func (s *sysTree) parents(op, oldname, newname string, f func(ofd int, obase string, nfd int, nbase string) error) error {
	ofd, obase, odone, err := s.parent(op, oldname)
	if err != nil {
		return err
	}
	defer odone()
	nfd, nbase := ofd, filepath.Base(newname)
	if filepath.Dir(oldname) != filepath.Dir(newname) {
		var ndone func()
		nfd, nbase, ndone, err = s.parent(op, newname)
		if err != nil {
			return err
		}
		defer ndone()
	}
	return f(ofd, obase, nfd, nbase)
}

func (s *sysTree) readlink(name string) (string, error) {
	pfd, base, done, err := s.parent("readlink", name)
	if err != nil {
		return "", err
	}
	defer done()
	for n := 256; ; n *= 2 {
		buf := make([]byte, n)
		m, err := unix.Readlinkat(pfd, base, buf)
		if err != nil {
			return "", &fs.PathError{Op: "readlinkat", Path: name, Err: err}
		}
		if m < n {
			return string(buf[:m]), nil
		}
	}
}

func (s *sysTree) mkdir(name string, perm fs.FileMode) error {
	pfd, base, done, err := s.parent("mkdir", name)
	if err != nil {
		return err
	}
	defer done()
	if err := unix.Mkdirat(pfd, base, uint32(perm.Perm())); err != nil {
		return &fs.PathError{Op: "mkdirat", Path: name, Err: err}
	}
	return nil
}

func ignoringEINTRErr(f func() error) error {
	for {
		err := f()
		if err != unix.EINTR {
			return err
		}
	}
}

func ignoringEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != unix.EINTR {
			return n, err
		}
	}
}
