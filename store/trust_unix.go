//go:build unix

package store

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

func trusted(root string) error {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("store: %s: %w", root, err)
	}
	uid := uint32(os.Geteuid())
	for dir, first := real, true; ; first = false {
		fi, err := os.Lstat(dir)
		if err != nil {
			return fmt.Errorf("store: %s: %w", dir, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if st.Uid != uid && st.Uid != 0 {
			return trustErr(dir, fmt.Sprintf("is owned by user %d, not by this user (%d) or root", st.Uid, uid))
		}
		mode := fi.Mode()
		if mode.Perm()&0o022 != 0 && (first || mode&os.ModeSticky == 0) {
			what := "the store directory"
			if !first {
				what = "a parent of the store without the sticky bit"
			}
			return trustErr(dir, fmt.Sprintf("is %s and writable by group or others (mode %04o)", what, mode.Perm()))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}
