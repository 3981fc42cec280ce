//go:build !linux

package store

import (
	"io/fs"
	"os"
)

// sameFile reports whether a and b describe the same file: os.SameFile,
// every FileInfo here being os's.
func sameFile(a, b fs.FileInfo) bool { return os.SameFile(a, b) }
