//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package manager_test

import "context"

// stormLockFile does not lock where flock(2) is missing: two processes
// may then both build, and each puts its binary in place whole by rename.
func stormLockFile(ctx context.Context, path string) (unlock func(), err error) {
	return func() {}, ctx.Err()
}
