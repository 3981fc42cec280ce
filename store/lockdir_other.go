//go:build !linux

package store

import "io/fs"

// lockDirFD has no descriptor here: the holder resolves every name
// beneath the root (see lockdir_linux.go).
type lockDirFD struct{}

func openLockDir(*tree) *lockDirFD                   { return nil }
func (*lockDirFD) close()                            {}
func (*lockDirFD) link(string, string) error         { return errNoOpenat2 }
func (*lockDirFD) lstat(string) (fs.FileInfo, error) { return nil, errNoOpenat2 }
func (*lockDirFD) remove(string) error               { return errNoOpenat2 }
