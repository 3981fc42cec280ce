package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// open returns the root for an operation on key: the one the Dir holds
// while the directory at its path is still that one (one stat), else the
// directory at its path opened now, so that a store removed or replaced
// under a running program is read and written where its path leads (or
// fails to be), never in a directory renamed away. Close it after use (a
// no-op for the held one). The locks of a process that holds one while
// the directory is replaced stay in the one it had open (see Lock).
func (d *Dir) open(ctx context.Context, op, key string) (*tree, error) {
	if err := check(ctx, op, key); err != nil {
		return nil, err
	}
	r, err := d.current()
	if err != nil {
		return nil, fmt.Errorf("store: %s %s: %w", op, key, err)
	}
	return r, nil
}

// current is open without a key.
func (d *Dir) current() (*tree, error) {
	if r, err := d.held(); err == nil && r.sys != nil && r.sys.same() {
		return r, nil
	}
	return d.openRoot()
}

// openRoot opens the directory at the Dir's path as a tree that knows
// whether the umask keeps the owner's bits (read once per Dir: the
// holder of a short-lived process's locks is opened at each first lock).
func (d *Dir) openRoot() (*tree, error) {
	r, err := openTree(d.root)
	if err != nil {
		return nil, err
	}
	d.umaskOnce.Do(func() { d.umaskKept = umaskKeepsOwner() })
	r.modesKept = d.umaskKept
	return r, nil
}

// held returns the root the Dir keeps open for its life, opened at first
// use: every operation goes through it while the directory at the Dir's
// path is still it (current).
func (d *Dir) held() (*tree, error) {
	d.readerOnce.Do(func() {
		d.reader, d.readerErr = d.openRoot()
		if d.readerErr == nil {
			d.reader.held = true
		}
	})
	return d.reader, d.readerErr
}

var _ subdirLister = (*Dir)(nil)

// subdirs returns the names of the directories directly under the key
// prefix dir (see subdirLister): one read of the directory's names.
// Names beginning with '.' are left out, as List leaves them out.
func (d *Dir) subdirs(ctx context.Context, dir string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validatePrefix(dir + "/"); err != nil {
		return nil, err
	}
	r, err := d.current()
	if err != nil {
		return nil, fmt.Errorf("store: list %q: %w", dir, err)
	}
	defer r.Close()
	f, err := r.Open(filepath.FromSlash(dir))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: list %q: %w", dir, err)
	}
	defer f.Close()
	des, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("store: list %q: %w", dir, err)
	}
	var out []string
	for _, de := range des {
		if de.IsDir() && !strings.HasPrefix(de.Name(), ".") {
			out = append(out, de.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}
