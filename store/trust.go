package store

import (
	"errors"
	"fmt"
	"path/filepath"
)

// ErrUntrusted is wrapped by the error of NewDir, OpenDir and
// Dir.CheckTrust when someone other than the user (and root) could write
// the store's directory or one of its parents, and so swap in keys or
// certificates of their own.
var ErrUntrusted = errors.New("store: directory writable by another user")

// DirOption changes how NewDir and OpenDir open a Dir.
type DirOption func(*dirOptions)

type dirOptions struct {
	untrusted func(error) // nil: refuse an untrusted directory
}

// AllowUntrusted opens a Dir even when CheckTrust fails, calling warn
// (which may be nil) with the error instead. Use it only where the
// directory's other writers are trusted, as with ssh's StrictModes no.
func AllowUntrusted(warn func(error)) DirOption {
	return func(o *dirOptions) {
		if warn == nil {
			warn = func(error) {}
		}
		o.untrusted = warn
	}
}

// checkTrust applies CheckTrust to abs as opts say.
func checkTrust(abs string, opts []DirOption) error {
	var o dirOptions
	for _, f := range opts {
		f(&o)
	}
	err := trusted(abs)
	if err != nil && o.untrusted != nil {
		o.untrusted(err)
		return nil
	}
	return err
}

// CheckTrust returns an error wrapping ErrUntrusted unless the store's
// root and every directory above it (symbolic links resolved) is owned
// by this process's user or by root, and writable by no one else: the
// root must not be group- or world-writable, and a parent only if it has
// the sticky bit (as /tmp), which keeps others from renaming or removing
// what they do not own. This is what ssh requires of ~/.ssh. NewDir and
// OpenDir call it; it does nothing on systems without Unix permissions.
func (d *Dir) CheckTrust() error { return trusted(d.root) }

func trustErr(dir, why string) error {
	return fmt.Errorf("%w: %s %s; make it the user's own and not group- or world-writable (chmod go-w), or move the store", ErrUntrusted, filepath.Clean(dir), why)
}
