//go:build !linux

package store

import (
	"errors"
	"io/fs"
	"os"
)

// sysTree has no openat2 side here: a tree is os.Root (see tree), and
// openSysTree returns none.
type sysTree struct{}

var errNoOpenat2 = errors.New("store: openat2 not available")

func openSysTree(string) (*sysTree, error) { return nil, nil }

func (*sysTree) close() error                                        { return nil }
func (*sysTree) sub(string, bool) (*sysTree, error)                  { return nil, errNoOpenat2 }
func (*sysTree) same() bool                                          { return false }
func (*sysTree) unsupported(error) bool                              { return true }
func (*sysTree) openFile(string, int, fs.FileMode) (*os.File, error) { return nil, errNoOpenat2 }
func (*sysTree) stat(string, bool) (fs.FileInfo, error)              { return nil, errNoOpenat2 }
func (*sysTree) remove(string) error                                 { return errNoOpenat2 }
func (*sysTree) rename(string, string) error                         { return errNoOpenat2 }
func (*sysTree) symlink(string, string) error                        { return errNoOpenat2 }
func (*sysTree) link(string, string) error                           { return errNoOpenat2 }
func (*sysTree) readlink(string) (string, error)                     { return "", errNoOpenat2 }
func (*sysTree) mkdir(string, fs.FileMode) error                     { return errNoOpenat2 }
func (*sysTree) chmod(string, fs.FileMode) error                     { return errNoOpenat2 }

func (*sysTree) versionSlots(string) (map[int]versionSlot, error) { return nil, errNoOpenat2 }

// rawFile is never made here (see writeFile).
type rawFile struct{ writeFile }

func (*sysTree) syncDir(string) error { return errNoOpenat2 }

func (*sysTree) openRaw(string, string, int, fs.FileMode) (*rawFile, error) {
	return nil, errNoOpenat2
}
func (*sysTree) readRegular(string, int64) ([]byte, fs.FileInfo, error) {
	return nil, nil, errNoOpenat2
}
