package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// lockErr is the error of taking the lock called name: err, with the
// paths it names (relative to the store's root, as the lock files are
// made) made absolute, as the store's other errors name them, and, when
// the lock directory is not a directory, a word saying so.
func (d *Dir) lockErr(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && !filepath.IsAbs(pe.Path) {
		pe.Path = filepath.Join(d.root, pe.Path)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		if !filepath.IsAbs(le.Old) {
			le.Old = filepath.Join(d.root, le.Old)
		}
		if !filepath.IsAbs(le.New) {
			le.New = filepath.Join(d.root, le.New)
		}
	}
	if errors.Is(err, syscall.ENOTDIR) {
		locks := filepath.Join(d.root, lockDir)
		if fi, serr := os.Lstat(locks); serr == nil && !fi.IsDir() {
			return fmt.Errorf("store: lock %q: %w (%s, where the store keeps its locks, is not a directory: move it away)", name, err, locks)
		}
	}
	return fmt.Errorf("store: lock %q: %w", name, err)
}
