//go:build linux

package store

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestVersionSlotOfUnknownType: on a file system whose directory entries
// do not say their type (DT_UNKNOWN), a version's entry is looked at
// (lstat) and described as when the type is given: a directory with its
// chain or without, a link, nothing for a file or a name gone.
func TestVersionSlotOfUnknownType(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "1", "cert.pem"), "chain")
	if err := os.Mkdir(filepath.Join(dir, "2"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("1", filepath.Join(dir, "3")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "4"), "a file")
	s, err := openSysTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for _, tc := range []struct {
		ent  string
		typ  uint8
		want versionSlot
		ok   bool
	}{
		{"1", unix.DT_DIR, versionSlot{dir: true, chain: true, size: 5}, true},
		{"2", unix.DT_DIR, versionSlot{dir: true}, true},
		{"3", unix.DT_LNK, versionSlot{link: true}, true},
		{"4", unix.DT_REG, versionSlot{}, false},
		{"5", unix.DT_DIR, versionSlot{dir: true}, true}, // gone after it was read: no chain
	} {
		for _, typ := range []uint8{tc.typ, unix.DT_UNKNOWN} {
			want, wantOK := tc.want, tc.ok
			if tc.ent == "5" && typ == unix.DT_UNKNOWN {
				want, wantOK = versionSlot{}, false // the lstat finds it gone
			}
			got, ok, err := s.versionSlot(tc.ent, typ)
			if err != nil || ok != wantOK || got != want {
				t.Errorf("versionSlot(%s, type %d) = %+v, %v, %v; want %+v, %v", tc.ent, typ, got, ok, err, want, wantOK)
			}
		}
	}
}

// lookEveryTime makes s check its root's identity at every operation
// (it trusts an answer for sameFor otherwise).
func lookEveryTime(s *sysTree) { s.sameFor = 0 }
