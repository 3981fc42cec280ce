package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
)

// versionSlot is what a certificate's versions/ directory holds under one
// version number (a name parseVersion takes).
type versionSlot struct {
	// dir: a directory, where a version is written: whole, or what a
	// writer that died left (files, or none).
	dir bool
	// link: a symbolic link, which the store never makes there (see
	// currentForSave, unlinkVersion).
	link bool
	// chain: dir holds its cert.pem, a regular file or a link to one
	// (resolved beneath the store's root): the version is whole.
	chain bool
	// size is the chain's size in bytes, when chain.
	size int64
}

// versionLister is implemented by a Store that describes a
// certificate's versions/ directory from one read of its names and a
// look at each version's cert.pem (Dir), where List reads every
// version's directory whole (an open, its names and a close each, for
// files that a save does not need to know of).
type versionLister interface {
	// listVersions describes the entries of dir/versions (dir a key
	// prefix without its trailing slash) whose names are version
	// numbers; none when there is no such directory.
	listVersions(ctx context.Context, dir string) (map[int]versionSlot, error)
}

var _ versionLister = (*Dir)(nil)

func (d *Dir) listVersions(ctx context.Context, dir string) (map[int]versionSlot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := dir + "/" + versionsDir
	if err := validatePrefix(key + "/"); err != nil {
		return nil, err
	}
	r, err := d.current()
	if err != nil {
		return nil, fmt.Errorf("store: list %q: %w", key, err)
	}
	defer r.Close()
	slots, err := r.versionSlots(filepath.FromSlash(key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return map[int]versionSlot{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: list %q: %w", key, err)
	}
	return slots, nil
}

// versionSlots describes the entries of the directory name whose names
// are version numbers (see versionSlot), each resolved beneath t.
func (t *tree) versionSlots(name string) (map[int]versionSlot, error) {
	if t.sys != nil {
		slots, err := t.sys.versionSlots(name)
		if !t.fallback(err) {
			return slots, err
		}
	}
	f, err := t.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	des, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	slots := map[int]versionSlot{}
	for _, de := range des {
		n, ok := parseVersion(de.Name())
		if !ok {
			continue
		}
		switch {
		case de.Type()&fs.ModeSymlink != 0:
			slots[n] = versionSlot{link: true}
		case de.IsDir():
			s := versionSlot{dir: true}
			if s.chain, s.size, err = t.chainIn(filepath.Join(name, de.Name())); err != nil {
				return nil, err
			}
			slots[n] = s
		}
	}
	return slots, nil
}

// chainIn reports whether the version directory vdir holds its cert.pem,
// a regular file (following a link, beneath t), and its size.
func (t *tree) chainIn(vdir string) (bool, int64, error) {
	return chainOf(t.Stat(filepath.Join(vdir, certFile)))
}

// chainOf is chainIn's answer from the stat of a version's cert.pem: a
// chain when it is a regular file; none when it is missing (or its
// version is no directory) or of another kind.
func chainOf(fi fs.FileInfo, err error) (bool, int64, error) {
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return false, 0, nil
	case err != nil:
		return false, 0, err
	case !fi.Mode().IsRegular():
		return false, 0, nil
	}
	return true, fi.Size(), nil
}
