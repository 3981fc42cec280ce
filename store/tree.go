package store

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// tree is a Dir's root directory, opened for one operation or more: every
// name given to its methods is resolved beneath it, symbolic links
// included, so that no key reaches outside the root (a link planted in the
// store pointing elsewhere makes the operation fail), as os.Root does.
//
// On Linux a tree resolves each name with one openat2 system call
// (RESOLVE_BENEATH) where os.Root opens and closes every directory on the
// way, which for a version's file six levels down was a dozen system calls
// per operation, and most of a renewal storm's CPU time (docs/store.md,
// "System calls"). Elsewhere, and on a kernel without openat2, it is
// os.Root. Its methods have os.Root's names and meanings and are safe for
// concurrent use.
type tree struct {
	path string
	sys  *sysTree // the openat2 side; nil where there is none
	// held marks the tree a Dir keeps open for its life (Dir.held):
	// Close leaves it open.
	held bool
	// modesKept says that the process's umask, as the Dir read it once,
	// keeps the owner's bits, the only ones the store gives (0600 files,
	// 0700 directories): what it makes has those modes without a chmod
	// after (see umaskKeepsOwner, Dir.openRoot).
	modesKept bool

	rootOnce sync.Once
	root     *os.Root
	rootErr  error
}

// openTree opens the directory at path.
func openTree(path string) (*tree, error) {
	t := &tree{path: path}
	sys, err := openSysTree(path)
	if err != nil {
		return nil, err
	}
	if sys == nil {
		// No openat2 here: os.Root for everything, opened now so that
		// a missing root fails here as it did.
		if _, err := t.osRoot(); err != nil {
			return nil, err
		}
	}
	t.sys = sys
	return t, nil
}

// sub opens the directory dir beneath t as a tree of its own, for a
// batch of operations on the names in it: each is then resolved from dir
// (a rename of two names in it is one renameat, where from t's root it
// opens their directory first and closes it after). The caller closes it.
func (t *tree) sub(dir string) (*tree, error) { return t.subOpen(dir, false) }

// subSynced is sub for a batch of writes in dir that ends with a sync of
// dir: opened for reading (where sub opens it O_PATH), its descriptor is
// the one syncDir(".") syncs, rather than one opened again for that.
func (t *tree) subSynced(dir string) (*tree, error) { return t.subOpen(dir, true) }

func (t *tree) subOpen(dir string, readable bool) (*tree, error) {
	st := &tree{path: filepath.Join(t.path, dir), modesKept: t.modesKept}
	if t.sys != nil {
		s, err := t.sys.sub(dir, readable)
		if !t.fallback(err) {
			if err != nil {
				return nil, err
			}
			st.sys = s
			return st, nil
		}
	}
	r, err := t.osRoot()
	if err != nil {
		return nil, err
	}
	sr, err := r.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	st.rootOnce.Do(func() { st.root = sr })
	return st, nil
}

// osRoot returns the tree as an os.Root, opened at first use.
func (t *tree) osRoot() (*os.Root, error) {
	t.rootOnce.Do(func() { t.root, t.rootErr = os.OpenRoot(t.path) })
	return t.root, t.rootErr
}

// fallback reports whether an openat2 call's error says the system
// refused the call itself (a kernel before 5.6, a seccomp filter), so that
// the operation is done again through os.Root, which then gives the true
// answer.
func (t *tree) fallback(err error) bool {
	return t.sys == nil || t.sys.unsupported(err)
}

// Close closes the tree, unless it is a Dir's held one.
func (t *tree) Close() error {
	if t.held {
		return nil
	}
	var err error
	if t.sys != nil {
		err = t.sys.close()
	}
	if t.root != nil {
		if cerr := t.root.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// OpenFile opens name as os.Root.OpenFile does.
func (t *tree) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	if t.sys != nil {
		f, err := t.sys.openFile(name, flag, perm)
		if !t.fallback(err) {
			return f, err
		}
	}
	r, err := t.osRoot()
	if err != nil {
		return nil, err
	}
	return r.OpenFile(name, flag, perm)
}

// writeFile is a file opened for writing: an *os.File, or on Linux its
// descriptor alone (rawFile), which spares the fcntl an os.File costs to
// make.
type writeFile interface {
	Chmod(mode fs.FileMode) error
	Write(b []byte) (int, error)
	Sync() error
	Close() error
}

// openWriter opens name for writing with flag (os.O_WRONLY and more).
func (t *tree) openWriter(name string, flag int, perm fs.FileMode) (writeFile, error) {
	if t.sys != nil {
		f, err := t.sys.openRaw("open", name, flag, perm)
		if !t.fallback(err) {
			if err != nil {
				return nil, err
			}
			return f, nil
		}
	}
	return t.OpenFile(name, flag, perm)
}

// syncDir syncs the directory name.
func (t *tree) syncDir(name string) error {
	if t.sys != nil {
		err := t.sys.syncDir(name)
		if !t.fallback(err) {
			return err
		}
	}
	f, err := t.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Open opens name for reading.
func (t *tree) Open(name string) (*os.File, error) {
	return t.OpenFile(name, os.O_RDONLY, 0)
}

// ReadFile returns the contents of the file name.
func (t *tree) ReadFile(name string) ([]byte, error) {
	f, err := t.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data := make([]byte, 0, fi.Size()+512)
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return data, nil
			}
			return nil, err
		}
	}
}

// errNotRegular and errTooBig are readRegular's refusals, which Dir.Get
// words for its key.
var (
	errNotRegular = errors.New("not a regular file")
	errTooBig     = errors.New("file too large")
)

// readRegular returns the contents of the regular file name and its
// FileInfo, refusing anything else (errNotRegular, with the FileInfo)
// and a file larger than max bytes (errTooBig, with the FileInfo; a file
// that grows past max while read gives max+1 bytes, for the caller to
// refuse). It never blocks on opening (a FIFO planted in the tree).
func (t *tree) readRegular(name string, max int64) ([]byte, fs.FileInfo, error) {
	if t.sys != nil {
		data, fi, err := t.sys.readRegular(name, max)
		if !t.fallback(err) {
			return data, fi, err
		}
	}
	r, err := t.osRoot()
	if err != nil {
		return nil, nil, err
	}
	f, err := r.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fi, errNotRegular
	}
	if fi.Size() > max {
		return nil, fi, errTooBig
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fi, err
	}
	return data, fi, nil
}

// Stat describes name, following a final symbolic link.
func (t *tree) Stat(name string) (fs.FileInfo, error) {
	return t.stat(name, true)
}

// Lstat describes name without following a final symbolic link.
func (t *tree) Lstat(name string) (fs.FileInfo, error) {
	return t.stat(name, false)
}

func (t *tree) stat(name string, follow bool) (fs.FileInfo, error) {
	if t.sys != nil {
		fi, err := t.sys.stat(name, follow)
		if !t.fallback(err) {
			return fi, err
		}
	}
	r, err := t.osRoot()
	if err != nil {
		return nil, err
	}
	if follow {
		return r.Stat(name)
	}
	return r.Lstat(name)
}

// Remove removes the file, link or empty directory name.
func (t *tree) Remove(name string) error {
	if t.sys != nil {
		err := t.sys.remove(name)
		if !t.fallback(err) {
			return err
		}
	}
	r, err := t.osRoot()
	if err != nil {
		return err
	}
	return r.Remove(name)
}

// Rename renames oldname to newname, replacing a file or link there.
func (t *tree) Rename(oldname, newname string) error {
	if t.sys != nil {
		err := t.sys.rename(oldname, newname)
		if !t.fallback(err) {
			return err
		}
	}
	r, err := t.osRoot()
	if err != nil {
		return err
	}
	return r.Rename(oldname, newname)
}

// Symlink makes newname a symbolic link to oldname.
func (t *tree) Symlink(oldname, newname string) error {
	if t.sys != nil {
		err := t.sys.symlink(oldname, newname)
		if !t.fallback(err) {
			return err
		}
	}
	r, err := t.osRoot()
	if err != nil {
		return err
	}
	return r.Symlink(oldname, newname)
}

// Readlink returns the target of the symbolic link name.
func (t *tree) Readlink(name string) (string, error) {
	if t.sys != nil {
		s, err := t.sys.readlink(name)
		if !t.fallback(err) {
			return s, err
		}
	}
	r, err := t.osRoot()
	if err != nil {
		return "", err
	}
	return r.Readlink(name)
}

// Mkdir makes the directory name.
func (t *tree) Mkdir(name string, perm fs.FileMode) error {
	if t.sys != nil {
		err := t.sys.mkdir(name, perm)
		if !t.fallback(err) {
			return err
		}
	}
	r, err := t.osRoot()
	if err != nil {
		return err
	}
	return r.Mkdir(name, perm)
}

// Link makes newname a hard link to oldname (a lock: see Dir.Lock).
func (t *tree) Link(oldname, newname string) error {
	if t.sys != nil {
		err := t.sys.link(oldname, newname)
		if !t.fallback(err) {
			return err
		}
	}
	r, err := t.osRoot()
	if err != nil {
		return err
	}
	return r.Link(oldname, newname)
}

// Chmod changes the mode of name (a new directory's, whatever the
// umask), not following a final link.
func (t *tree) Chmod(name string, mode fs.FileMode) error {
	if t.sys != nil {
		err := t.sys.chmod(name, mode)
		if !t.fallback(err) {
			return err
		}
	}
	r, err := t.osRoot()
	if err != nil {
		return err
	}
	return r.Chmod(name, mode)
}

// Chtimes is rare (a lock's refresh): os.Root's.

// Chtimes changes the access and modification times of name.
func (t *tree) Chtimes(name string, atime, mtime time.Time) error {
	r, err := t.osRoot()
	if err != nil {
		return err
	}
	return r.Chtimes(name, atime, mtime)
}

// FS returns the tree as an fs.FS (with fs.StatFS and fs.ReadDirFS), for
// fs.WalkDir.
func (t *tree) FS() fs.FS { return treeFS{t} }

type treeFS struct{ t *tree }

func (f treeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	file, err := f.t.Open(name)
	if err != nil {
		return nil, err
	}
	return file, nil
}

func (f treeFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	return f.t.Stat(name)
}

func (f treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	file, err := f.t.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	des, err := file.ReadDir(-1)
	slices.SortFunc(des, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return des, err
}

// umaskKeepsOwner reports whether the process's umask clears none of the
// owner's permission bits, as any umask in use does (022, 027, 077):
// files made 0600 and directories 0700 then have those modes, and the
// chmod that made them so whatever the umask is left out. Read from
// /proc/self/status (Linux 4.7 and later), as reading it with umask(2)
// would set it meanwhile for every thread; false where it cannot be read.
func umaskKeepsOwner() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return err == nil && m&0o700 == 0
		}
	}
	return false
}
