package store

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// flatDeleter is implemented by a Store that deletes the files of a
// directory that holds files alone through the directory opened once
// (Dir): a version pruned, where each of its files' Delete opened, looked
// at and removed it, then opened its directory again to sync it.
type flatDeleter interface {
	// deleteFlat deletes what List lists under the key prefix dir
	// (without its trailing slash), the file named first before the
	// others, each deletion synced as Delete syncs it, then dir itself
	// if that leaves it empty, as deleteTree does. It reports false,
	// having deleted nothing, when dir holds anything but regular
	// files and temporary ones (a directory, a link), for the caller to
	// delete it key by key.
	deleteFlat(ctx context.Context, dir, first string) (bool, error)
}

var _ flatDeleter = (*Dir)(nil)

func (d *Dir) deleteFlat(ctx context.Context, dir, first string) (bool, error) {
	r, err := d.open(ctx, "delete", dir+"/"+first)
	if err != nil {
		return false, err
	}
	defer r.Close()
	name := filepath.FromSlash(dir)
	f, err := r.Open(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return true, nil // nothing to delete
	}
	if err != nil {
		return false, nil // the caller's walk says what it is
	}
	des, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return false, nil
	}
	var files []string
	kept := false // something List does not list stays: dir is not removed
	for _, de := range des {
		n := de.Name()
		switch {
		case strings.HasPrefix(n, "."):
			kept = true
		case !de.Type().IsRegular():
			return false, nil
		case ValidateKey(dir+"/"+n) != nil:
			kept = true
		default:
			files = append(files, n)
		}
	}
	slices.SortStableFunc(files, func(a, b string) int {
		switch {
		case a == first:
			return -1
		case b == first:
			return 1
		}
		return strings.Compare(a, b)
	})
	st, err := r.subSynced(name)
	if err != nil {
		return true, pathErr("delete", dir, err)
	}
	defer st.Close()
	for _, n := range files {
		if err := ctx.Err(); err != nil {
			return true, err
		}
		if err := st.Remove(n); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return true, pathErr("delete", dir+"/"+n, err)
		}
		if err := syncDir(st, "."); err != nil {
			return true, pathErr("delete", dir+"/"+n, err)
		}
	}
	if !kept && r.Remove(name) == nil {
		syncDir(r, filepath.Dir(name))
	}
	return true, nil
}
