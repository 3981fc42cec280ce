package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
)

// checkWritableDir reports whether a file could be made in the directory
// at key, or, where it does not exist yet, in the nearest directory above
// it that does (where the missing ones would be made), as far as the
// system says without writing: something other than a directory standing
// at key or above it, or a directory the system does not let this
// process write into (its permissions, a read-only mount). The error
// names the absolute path. A store that is not a Dir is not checked.
func (c *Certs) checkWritableDir(ctx context.Context, key string) error {
	d, ok := c.Store.(*Dir)
	if !ok {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := d.current()
	if err != nil {
		return err
	}
	defer r.Close()
	for k := key; ; k = path.Dir(k) {
		abs := filepath.Join(d.root, filepath.FromSlash(k))
		fi, err := r.Lstat(filepath.FromSlash(k))
		switch {
		case k == "." || k == "/":
			if err := writeAllowed(d.root); err != nil {
				return fmt.Errorf("store: %s is not writable: %w", d.root, err)
			}
			return nil
		case errors.Is(err, fs.ErrNotExist):
			continue // made by the write: look above
		case err != nil:
			return fmt.Errorf("store: %s: %w", abs, err)
		case !fi.IsDir():
			return fmt.Errorf("store: %s is not a directory (%s), where the store keeps files: move it away", abs, kindOf(fi))
		}
		if err := writeAllowed(abs); err != nil {
			return fmt.Errorf("store: %s is not writable: %w", abs, err)
		}
		return nil
	}
}

// kindOf names what fi describes, for messages: "a file", "a link", or
// its type's letters.
func kindOf(fi fs.FileInfo) string {
	switch t := fi.Mode().Type(); {
	case t == 0:
		return "a file"
	case t&fs.ModeSymlink != 0:
		return "a link"
	default:
		return t.String()
	}
}
