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
// Every access goes through os.Root, so not even a symbolic link planted
// inside the tree can lead a key outside it.
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

	// reader is the root opened once for Get, the hot path when a
	// manager loads thousands of certificates at start. It stays open for
	// the Dir's life: a root directory replaced meanwhile (renamed away
	// and made again) is not seen by Get until a new Dir is made.
	readerOnce sync.Once
	reader     *os.Root
	readerErr  error

	// released is closed (and replaced) whenever a lock of this Dir is
	// released, so that the goroutines of this process waiting for one
	// try again at once rather than at their next poll.
	releasedMu sync.Mutex
	released   chan struct{}

	// scanned holds the directories that removeStaleTemps looked at
	// since scannedSince.
	scannedMu    sync.Mutex
	scanned      map[string]bool
	scannedSince time.Time

	// temps holds the temporary files seen in big directories since
	// tempsSince (see tempNames).
	tempsMu    sync.Mutex
	temps      map[string][]string
	tempsSince time.Time

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
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("store: NewDir: %w", err)
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
	r, err := os.OpenRoot(d.root)
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

func (d *Dir) open(ctx context.Context, op, key string) (*os.Root, error) {
	if err := check(ctx, op, key); err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(d.root)
	if err != nil {
		return nil, fmt.Errorf("store: %s %s: %w", op, key, err)
	}
	return r, nil
}

// Get reads the value at key. It refuses files larger than MaxValueSize
// (the error wraps ErrTooLarge).
func (d *Dir) Get(ctx context.Context, key string) ([]byte, error) {
	if err := check(ctx, "get", key); err != nil {
		return nil, err
	}
	d.readerOnce.Do(func() { d.reader, d.readerErr = os.OpenRoot(d.root) })
	if d.readerErr != nil {
		return nil, fmt.Errorf("store: get %s: %w", key, d.readerErr)
	}
	// One open, never blocking (a FIFO planted in the tree would block a
	// plain open), then the type is checked on the open file.
	f, err := d.reader.OpenFile(filepath.FromSlash(key), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return nil, notExist("get", key)
		}
		return nil, pathErr("get", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, pathErr("get", key, err)
	}
	if fi.IsDir() {
		return nil, notExist("get", key)
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "get", Path: key, Err: fmt.Errorf("store: not a regular file (%v)", fi.Mode().Type())}
	}
	if fi.Size() > MaxValueSize {
		return nil, &fs.PathError{Op: "get", Path: key, Err: fmt.Errorf("%w (file is %d bytes)", ErrTooLarge, fi.Size())}
	}
	// Sized from the Stat (as os.ReadFile does): one allocation for a
	// file that does not grow meanwhile, which matters for the index's
	// megabyte shards.
	data := make([]byte, 0, fi.Size()+1)
	for len(data) <= MaxValueSize {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := f.Read(data[len(data):min(cap(data), MaxValueSize+1)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, pathErr("get", key, err)
		}
	}
	if len(data) > MaxValueSize {
		return nil, &fs.PathError{Op: "get", Path: key, Err: ErrTooLarge}
	}
	return data, nil
}

// Put writes value at key atomically, creating parent directories.
func (d *Dir) Put(ctx context.Context, key string, value []byte) error {
	return d.put(ctx, key, value, true)
}

// RelaxedPutter is an optional interface of a Store that can write a
// key atomically without waiting until the write survives a crash of
// the machine: for records that only save work after a restart (Certs
// writes a manager's renewal state with it).
//
// PutRelaxed is Put, as atomic (a reader, or a process started after the
// writer was killed, sees the old value or the new one, never a mix), but
// a crash of the system (power loss, kernel panic) soon after it returns
// may leave the old value or, in a store that cannot promise better, no
// value at all.
type RelaxedPutter interface {
	PutRelaxed(ctx context.Context, key string, value []byte) error
}

var _ RelaxedPutter = (*Dir)(nil)

// putRelaxed writes value at key in s with PutRelaxed if s has it, else
// with Put.
func putRelaxed(ctx context.Context, s Store, key string, value []byte) error {
	if r, ok := s.(RelaxedPutter); ok {
		return r.PutRelaxed(ctx, key, value)
	}
	return s.Put(ctx, key, value)
}

// PutRelaxed is Put without its fsyncs (see RelaxedPutter): the value is
// written to a temporary file and renamed over the key, which the system
// writes to disk later (ext4 within 5 s by default). After a crash of the
// system meanwhile the key holds the old value, or, on some filesystems,
// an empty or partly written file where none existed before; a process
// killed meanwhile loses nothing, the rename being done.
func (d *Dir) PutRelaxed(ctx context.Context, key string, value []byte) error {
	return d.put(ctx, key, value, false)
}

// put is Put, with its fsyncs if durable is set.
func (d *Dir) put(ctx context.Context, key string, value []byte, durable bool) (err error) {
	r, err := d.open(ctx, "put", key)
	if err != nil {
		return err
	}
	defer r.Close()
	if len(value) > MaxValueSize {
		return &fs.PathError{Op: "put", Path: key, Err: ErrTooLarge}
	}
	name := filepath.FromSlash(key)
	dir := filepath.Dir(name)
	if err := mkdirs(r, dir); err != nil {
		return pathErr("put", key, err)
	}
	tmp, f, err := createTemp(r, dir, filepath.Base(name))
	if err != nil {
		return pathErr("put", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			r.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil { // whatever the umask
		return pathErr("put", key, err)
	}
	if _, err := f.Write(value); err != nil {
		return pathErr("put", key, err)
	}
	if durable {
		if err := f.Sync(); err != nil {
			return pathErr("put", key, err)
		}
	}
	if err := f.Close(); err != nil {
		return pathErr("put", key, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.Rename(tmp, name); err != nil {
		return pathErr("put", key, err)
	}
	// The value is in place; a failed directory sync only weakens
	// durability, but report it so the caller knows.
	if durable {
		if err := syncDir(r, dir); err != nil {
			return pathErr("put", key, err)
		}
	}
	d.removeStaleTemps(r, dir)
	return nil
}

// BatchPutter is an optional interface of a Store that writes several
// keys with one wait for the disk rather than one per key. Certs writes a
// certificate version's files (key, combined, metadata, chain) with it.
//
// PutBatch writes each entry as Put would, with the same atomicity per
// key. The keys are switched to their new values in the order given:
// a writer that dies meanwhile leaves the first keys of the batch
// written and the others as they were, as a sequence of Puts would.
// Every value is durable when PutBatch returns nil. An error may leave
// some of the keys written.
type BatchPutter interface {
	PutBatch(ctx context.Context, entries []Entry) error
}

// Entry is one key and its value, for BatchPutter.
type Entry struct {
	Key   string
	Value []byte
}

var _ BatchPutter = (*Dir)(nil)

// PutBatch writes the entries (see BatchPutter): a temporary file for
// each, fsynced all at once (concurrently, so that the filesystem's
// journal commits them together, and with the parents of the
// directories it made), then renamed into place in the order given, then
// one fsync of each directory renamed into. Put for n keys
// waits for the disk 2n times; PutBatch into one directory twice,
// whatever n.
// It removes its temporary files on any error; a process killed
// meanwhile leaves them, as Put does.
func (d *Dir) PutBatch(ctx context.Context, entries []Entry) (err error) {
	if len(entries) == 0 {
		return ctx.Err()
	}
	r, err := d.open(ctx, "put", entries[0].Key)
	if err != nil {
		return err
	}
	defer r.Close()
	type tempFile struct {
		key, tmp, name string
		f              *os.File
		renamed        bool
	}
	temps := make([]*tempFile, 0, len(entries))
	var newParents []string
	defer func() {
		for _, t := range temps {
			if t.f != nil {
				t.f.Close()
			}
			if err != nil && !t.renamed {
				r.Remove(t.tmp)
			}
		}
	}()
	for _, e := range entries {
		if err := check(ctx, "put", e.Key); err != nil {
			return err
		}
		if len(e.Value) > MaxValueSize {
			return &fs.PathError{Op: "put", Path: e.Key, Err: ErrTooLarge}
		}
		name := filepath.FromSlash(e.Key)
		dir := filepath.Dir(name)
		// The directories made are synced with the files below.
		err := mkdirsThen(r, dir, func(parent string) error {
			if !slices.Contains(newParents, parent) {
				newParents = append(newParents, parent)
			}
			return nil
		})
		if err != nil {
			return pathErr("put", e.Key, err)
		}
		tmp, f, err := createTemp(r, dir, filepath.Base(name))
		if err != nil {
			return pathErr("put", e.Key, err)
		}
		t := &tempFile{key: e.Key, tmp: tmp, name: name, f: f}
		temps = append(temps, t)
		if err := f.Chmod(0o600); err != nil { // whatever the umask
			return pathErr("put", e.Key, err)
		}
		if _, err := f.Write(e.Value); err != nil {
			return pathErr("put", e.Key, err)
		}
	}
	errs := make([]error, len(temps)+len(newParents))
	var wg sync.WaitGroup
	for i, t := range temps {
		wg.Go(func() {
			if err := t.f.Sync(); err != nil {
				errs[i] = pathErr("put", t.key, err)
			}
		})
	}
	for i, p := range newParents {
		wg.Go(func() {
			if err := syncDir(r, p); err != nil {
				errs[len(temps)+i] = pathErr("put", filepath.ToSlash(p), err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, t := range temps {
		err := t.f.Close()
		t.f = nil
		if err != nil {
			return pathErr("put", t.key, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var dirs []string
	for _, t := range temps {
		if err := r.Rename(t.tmp, t.name); err != nil {
			return pathErr("put", t.key, err)
		}
		t.renamed = true
		if dir := filepath.Dir(t.name); !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	for _, dir := range dirs {
		if err := syncDir(r, dir); err != nil {
			return pathErr("put", filepath.ToSlash(dir), err)
		}
	}
	for _, dir := range dirs {
		d.removeStaleTemps(r, dir)
	}
	return nil
}

// staleTempAfter is how old a temporary file must be before Put takes it
// for the leftover of a writer that died (kill -9, a crash) and removes
// it: far longer than any write takes. Certs removes the temporary files
// of its own records at once, under their lock (see removeTemps); this
// is for the rest.
const staleTempAfter = time.Hour

// staleScanEvery is how often at most Put looks for stale temporary
// files in one directory: none can turn stale (staleTempAfter) sooner,
// and a directory of many keys (the manager's states) would otherwise be
// read whole at each Put into it.
const staleScanEvery = 10 * time.Minute

// removeStaleTemps removes, best effort, the temporary files in dir that
// writers which died left behind, so that a store killed mid-write is
// cleaned by a later write there rather than never. It looks at a
// directory at most once per staleScanEvery.
func (d *Dir) removeStaleTemps(r *os.Root, dir string) {
	now := time.Now()
	d.scannedMu.Lock()
	if now.Sub(d.scannedSince) > staleScanEvery || d.scanned == nil {
		// Forgotten every period: the map holds the directories
		// written in one period at most.
		d.scanned, d.scannedSince = map[string]bool{}, now
	}
	seen := d.scanned[dir]
	d.scanned[dir] = true
	d.scannedMu.Unlock()
	if seen {
		return
	}
	f, err := r.Open(dir)
	if err != nil {
		return
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTempAfter {
			r.Remove(filepath.Join(dir, e.Name()))
		}
	}
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
	if !isLink(r, name) { // a link, even a dangling one, is removed itself
		if _, err := regularFile(r, "delete", key); err != nil {
			return err
		}
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
	r, err := os.OpenRoot(d.root)
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
func regularFile(r *os.Root, op, key string) (fs.FileInfo, error) {
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
	r, err := d.open(ctx, "append", key)
	if err != nil {
		return err
	}
	defer r.Close()
	name := filepath.FromSlash(key)
	if err := mkdirs(r, filepath.Dir(name)); err != nil {
		return pathErr("append", key, err)
	}
	f, err := r.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return pathErr("append", key, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return pathErr("append", key, err)
	}
	if err := f.Close(); err != nil {
		return pathErr("append", key, err)
	}
	return nil
}

var _ Appender = (*Dir)(nil)
