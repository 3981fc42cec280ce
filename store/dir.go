package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Dir is a Store in a directory tree: key "a/b/c.pem" is the file
// <root>/a/b/c.pem, so other tools can read what certkeeper writes.
//
// Files are created 0600 and directories 0700 whatever they hold: the
// store holds private keys, and deciding per file which ones are secret
// would be one more thing to get wrong. Put is atomic and durable: it
// writes a temporary file in the target's directory, fsyncs it, renames
// it over the target and fsyncs the directory, and it removes the
// temporary file on any error. A crash can leave a temporary file behind
// (".tmp-<name>.<random>", named after the key it was to become); List
// and Get ignore it. Certs removes those of a certificate's or an
// account's keys at once whenever it holds that entry's lock, under which
// all of them are written; any other is removed by a later Put in its
// directory once it is an hour old (Put looks at most every ten minutes
// in one directory).
//
// Every name is resolved beneath the root (by openat2 with
// RESOLVE_BENEATH on Linux, os.Root elsewhere), so not even a symbolic
// link planted inside the tree can lead a key outside it.
//
// Names beginning with '.' belong to Dir: temporary files, and lock files
// under <root>/.locks. Keys cannot begin with '.' (see ValidateKey).
//
// Dir is a Linker: Certs keeps a certificate's versions in directories
// and switches a symbolic link between them (links stay inside the
// tree). It is a TryLocker too, so that a second daemon can be refused.
//
// Use NewDir to make one, or OpenDir for a command that must not create
// the directory. A Dir is safe for concurrent use by many goroutines and
// by many processes sharing the directory.
type Dir struct {
	// StaleLockAfter is how long a lock file may go unrefreshed before a
	// waiter treats its holder as dead and takes the lock over. A live
	// holder refreshes its lock file every StaleLockAfter/4. Zero means
	// DefaultStaleLockAfter. Set it before first use; it should exceed
	// any clock skew between machines sharing the directory.
	StaleLockAfter time.Duration

	root string

	// reader is the root opened once and kept open for the Dir's life;
	// operations go through it while the directory at root is still it
	// (see current), and through that directory otherwise.
	readerOnce sync.Once
	reader     *tree
	readerErr  error

	// released is closed (and replaced) whenever a lock of this Dir is
	// released, so that the goroutines of this process waiting for one
	// try again at once rather than at their next poll.
	releasedMu sync.Mutex
	released   chan struct{}

	// scanned holds the directories that removeStaleTemps looked at
	// since scannedSince.
	scannedMu    sync.Mutex
	scanned      nameSet
	scannedSince time.Time

	// temps holds the temporary files seen in big directories since
	// tempsSince (see tempNames).
	tempsMu    sync.Mutex
	temps      map[string][]string
	tempsSince time.Time

	// tidy holds the names of the locks whose holders' leftovers this
	// process cleared, none taken over since (see leftoversMayExist).
	tidyMu sync.Mutex
	tidy   nameSet
	// dirty holds the names of the locks taken over since this process
	// cleared their holders' leftovers, or ever: their leftovers are
	// looked for at the next lock even in a boot swept (bootsweep.go).
	dirty nameSet

	// umaskKept is umaskKeepsOwner, read once (umaskOnce).
	umaskOnce sync.Once
	umaskKept bool

	// bootID is the machine's boot (currentBoot), read once; bootSwept
	// says whether lockDir's marker names it (read once, sweptOnce) or
	// this process swept it (see bootsweep.go).
	bootOnce  sync.Once
	bootID    string
	sweptOnce sync.Once
	bootSwept atomic.Bool

	// holder is the file this process's locks of d link to while any
	// is held or wanted, and holds the hold of each lock held through a
	// link (see dirholder.go); swept says whether the holder files of
	// dead processes were looked for.
	holdMu sync.Mutex
	holder *lockHolder
	holds  map[string]*hold
	swept  bool
	// noHardLinks makes locks files of their own, as on a file system
	// without hard links (tests).
	noHardLinks bool

	// selfID and host identify this process in lock files (see self).
	selfOnce sync.Once
	selfID   *processID
	host     string
}

// DefaultStaleLockAfter is the staleness timeout of Dir locks when
// Dir.StaleLockAfter is zero.
const DefaultStaleLockAfter = 2 * time.Minute

var _ Store = (*Dir)(nil)

// NewDir returns a Dir rooted at root, creating the directory (0700) if
// it does not exist. An existing directory's permissions are left alone,
// but a directory someone else could write (Dir.CheckTrust) is refused
// with an error wrapping ErrUntrusted, unless AllowUntrusted is given.
func NewDir(root string, opts ...DirOption) (*Dir, error) {
	if root == "" {
		return nil, errors.New("store: NewDir: empty root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("store: NewDir: %w", err)
	}
	_, serr := os.Stat(abs)
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("store: NewDir: %w", err)
	}
	if errors.Is(serr, fs.ErrNotExist) {
		// Made here: 0700 whatever the umask.
		if err := os.Chmod(abs, 0o700); err != nil {
			return nil, fmt.Errorf("store: NewDir: %w", err)
		}
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("store: NewDir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("store: NewDir: %s is not a directory", abs)
	}
	if err := checkTrust(abs, opts); err != nil {
		return nil, err
	}
	return &Dir{root: abs}, nil
}

// OpenDir returns a Dir rooted at root, which must be an existing
// directory: unlike NewDir it creates nothing, for commands that only
// read. A missing directory gives an error wrapping fs.ErrNotExist; one
// someone else could write, as for NewDir, one wrapping ErrUntrusted.
func OpenDir(root string, opts ...DirOption) (*Dir, error) {
	if root == "" {
		return nil, errors.New("store: OpenDir: empty root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("store: OpenDir: %w", err)
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: there is no store at %s: %w", abs, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store: OpenDir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("store: OpenDir: %s is not a directory", abs)
	}
	if err := checkTrust(abs, opts); err != nil {
		return nil, err
	}
	return &Dir{root: abs}, nil
}

// CheckWritable reports whether values can be written to the store, by
// creating and removing a temporary file in its root, so that a command
// can refuse to start an order whose certificate it could not keep. The
// error names the directory and wraps the system's (such as
// fs.ErrPermission or syscall.EROFS).
func (d *Dir) CheckWritable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := d.openRoot()
	if err != nil {
		return fmt.Errorf("store: %s cannot be opened: %w", d.root, err)
	}
	defer r.Close()
	tmp, f, err := createTemp(r, ".", "writable")
	if err != nil {
		// The system's reason, without the probe's name, which the
		// user never made.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("store: %s is not writable: %w", d.root, err)
	}
	werr := f.Sync()
	cerr := f.Close()
	rerr := r.Remove(tmp)
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return fmt.Errorf("store: %s is not writable: %w", d.root, err)
	}
	return nil
}

// Root returns the absolute path of the directory.
func (d *Dir) Root() string { return d.root }

// Path returns the file name that holds key, for messages and for users
// who configure other programs to read the files.
func (d *Dir) Path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Get reads the value at key. It refuses files larger than MaxValueSize
// (the error wraps ErrTooLarge).
func (d *Dir) Get(ctx context.Context, key string) ([]byte, error) {
	if err := check(ctx, "get", key); err != nil {
		return nil, err
	}
	reader, err := d.current()
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", key, err)
	}
	defer reader.Close()
	// One open, never blocking (a FIFO planted in the tree would block a
	// plain open), then the type is checked on the open file, which is
	// read whole, sized from its stat.
	data, fi, err := reader.readRegular(filepath.FromSlash(key), MaxValueSize)
	switch {
	case errors.Is(err, errNotRegular) && fi.IsDir():
		return nil, notExist("get", key)
	case errors.Is(err, errNotRegular):
		return nil, &fs.PathError{Op: "get", Path: key, Err: fmt.Errorf("store: not a regular file (%v)", fi.Mode().Type())}
	case errors.Is(err, errTooBig):
		return nil, &fs.PathError{Op: "get", Path: key, Err: fmt.Errorf("%w (file is %d bytes)", ErrTooLarge, fi.Size())}
	case errors.Is(err, syscall.ENOTDIR):
		return nil, notExist("get", key)
	case err != nil:
		return nil, pathErr("get", key, err)
	case len(data) > MaxValueSize:
		return nil, &fs.PathError{Op: "get", Path: key, Err: ErrTooLarge}
	}
	return data, nil
}

// Delete removes the file at key, or the symbolic link at key (see
// Linker) without touching its target. Emptied directories are left in place:
// removing them would race with a concurrent Put into them.
func (d *Dir) Delete(ctx context.Context, key string) error {
	r, err := d.open(ctx, "delete", key)
	if err != nil {
		return err
	}
	defer r.Close()
	name := filepath.FromSlash(key)
	// One lstat: a link, even a dangling one, is removed itself; else
	// only a regular file.
	fi, err := r.Lstat(name)
	switch {
	case err != nil:
		return pathErr("delete", key, err)
	case fi.Mode()&fs.ModeSymlink != 0:
	case fi.IsDir():
		return notExist("delete", key)
	case !fi.Mode().IsRegular():
		return &fs.PathError{Op: "delete", Path: key, Err: fmt.Errorf("store: not a regular file (%v)", fi.Mode().Type())}
	}
	if err := r.Remove(name); err != nil {
		return pathErr("delete", key, err)
	}
	if err := syncDir(r, filepath.Dir(name)); err != nil {
		return pathErr("delete", key, err)
	}
	return nil
}

// Stat describes the file at key.
func (d *Dir) Stat(ctx context.Context, key string) (KeyInfo, error) {
	r, err := d.open(ctx, "stat", key)
	if err != nil {
		return KeyInfo{}, err
	}
	defer r.Close()
	fi, err := regularFile(r, "stat", key)
	if err != nil {
		return KeyInfo{}, err
	}
	return KeyInfo{Key: key, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

// List returns the sorted keys of the files whose key begins with prefix.
// Use a trailing slash ("certificates/") to list one directory's subtree.
// Names beginning with '.' (temporary and lock files) and files whose
// names are not valid keys (put there by other programs) are skipped.
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	r, err := d.current()
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	defer r.Close()
	fsys := r.FS()
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
	}
	var keys []string
	err = fs.WalkDir(fsys, start, func(p string, de fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			// Gone meanwhile, or the prefix names no directory.
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil
			}
			return err
		}
		if p != "." && strings.HasPrefix(path.Base(p), ".") {
			if de.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if de.IsDir() {
			return nil
		}
		if de.Type()&fs.ModeSymlink != 0 {
			fi, err := fs.Stat(fsys, p)
			if err != nil || !fi.Mode().IsRegular() {
				return nil
			}
		} else if !de.Type().IsRegular() {
			return nil
		}
		if strings.HasPrefix(p, prefix) && ValidateKey(p) == nil {
			keys = append(keys, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// regularFile stats key and reports a missing file, a directory or a
// path through a file as fs.ErrNotExist.
func regularFile(r *tree, op, key string) (fs.FileInfo, error) {
	fi, err := r.Stat(filepath.FromSlash(key))
	if err != nil {
		return nil, pathErr(op, key, err)
	}
	if fi.IsDir() {
		return nil, notExist(op, key)
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: op, Path: key, Err: fmt.Errorf("store: not a regular file (%v)", fi.Mode().Type())}
	}
	return fi, nil
}

// pathErr wraps err for key, turning "a component is a file" into
// fs.ErrNotExist as Memory reports it.
func pathErr(op, key string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, syscall.ENOTDIR) {
		err = fs.ErrNotExist
	}
	return &fs.PathError{Op: op, Path: key, Err: err}
}

// Append adds data at the end of the file at key in one write (O_APPEND),
// creating it (and its directories) if it is missing; see Appender. It
// does not sync the file: Certs keeps only its index, a cache, this way.
func (d *Dir) Append(ctx context.Context, key string, data []byte) error {
	_, err := d.appendSized(ctx, key, data)
	return err
}

var _ Appender = (*Dir)(nil)

var _ sizedAppender = (*Dir)(nil)

// appendSized is Append that returns the file's size after the write
// (see sizedAppender). The directories are made only when the file
// cannot be opened for want of them.
func (d *Dir) appendSized(ctx context.Context, key string, data []byte) (int64, error) {
	r, err := d.open(ctx, "append", key)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	name := filepath.FromSlash(key)
	// A descriptor (openWriter), not an os.File: an fcntl less per append.
	f, err := r.openWriter(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		if err := mkdirs(r, filepath.Dir(name)); err != nil {
			return 0, pathErr("append", key, err)
		}
		f, err = r.openWriter(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	}
	if err != nil {
		return 0, pathErr("append", key, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return 0, pathErr("append", key, err)
	}
	// The end of an O_APPEND write is the file's size then.
	size, serr := int64(-1), error(errors.ErrUnsupported)
	if sk, ok := f.(io.Seeker); ok {
		size, serr = sk.Seek(0, io.SeekCurrent)
	}
	if err := f.Close(); err != nil {
		return 0, pathErr("append", key, err)
	}
	if serr != nil {
		return -1, nil // appended; the size is unknown
	}
	return size, nil
}
