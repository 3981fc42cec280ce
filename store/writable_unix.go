//go:build unix

package store

import "syscall"

// writeAllowed reports whether the system lets this process make files
// in the directory at path: its permissions and a read-only mount
// (faccessat with W_OK; root passes the first, not the second).
func writeAllowed(path string) error { return syscall.Access(path, 2 /* W_OK */) }
