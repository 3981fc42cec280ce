//go:build linux

package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// versionSlots is tree.versionSlots through the directory's descriptor:
// one openat2, its names read (getdents64, whose entries say their
// type), and for each version directory a stat of its cert.pem
// (openat2 of "<n>/cert.pem" beneath the root, not following a final
// link, and an fstat), then a close: three system calls per version
// where List's walk made five (an open, an fcntl, two reads of its names,
// a close), and none for files a save does not look at.
func (s *sysTree) versionSlots(name string) (map[int]versionSlot, error) {
	fd, err := s.openat2("open", name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	// Names in the directory resolve from its descriptor, beneath the
	// root all the same (RESOLVE_BENEATH of the descriptor's directory,
	// itself beneath the root).
	in := &sysTree{fd: fd, path: filepath.Join(s.path, name)}
	slots := map[int]versionSlot{}
	buf := make([]byte, 8192)
	for {
		n, err := ignoringEINTR(func() (int, error) { return unix.Getdents(fd, buf) })
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: name, Err: err}
		}
		if n <= 0 {
			return slots, nil
		}
		// struct linux_dirent64: d_ino (8 bytes), d_off (8), d_reclen
		// (2), d_type (1), d_name (NUL-terminated, padded to reclen).
		for off := 0; off+19 < n; {
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			if reclen < 19 || off+reclen > n {
				return nil, &fs.PathError{Op: "readdirent", Path: name, Err: syscall.EIO}
			}
			typ, ent := buf[off+18], buf[off+19:off+reclen]
			off += reclen
			if i := bytes.IndexByte(ent, 0); i >= 0 {
				ent = ent[:i]
			}
			v, ok := parseVersion(string(ent))
			if !ok {
				continue
			}
			sl, ok, err := in.versionSlot(string(ent), typ)
			if err != nil {
				return nil, err
			}
			if ok {
				slots[v] = sl
			}
		}
	}
}

// versionSlot describes the entry ent of s, a version number, whose
// type getdents64 gave as typ (DT_UNKNOWN: a file system that does not
// say, which an lstat then tells); ok is false for what is neither a
// directory nor a link (a file), or what is gone meanwhile.
func (s *sysTree) versionSlot(ent string, typ uint8) (sl versionSlot, ok bool, err error) {
	if typ == unix.DT_UNKNOWN {
		fi, err := s.stat(ent, false)
		if errors.Is(err, fs.ErrNotExist) {
			return versionSlot{}, false, nil
		}
		if err != nil {
			return versionSlot{}, false, err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			typ = unix.DT_LNK
		case fi.IsDir():
			typ = unix.DT_DIR
		}
	}
	switch typ {
	case unix.DT_LNK:
		return versionSlot{link: true}, true, nil
	case unix.DT_DIR:
		sl := versionSlot{dir: true}
		if sl.chain, sl.size, err = s.chainIn(ent); err != nil {
			return versionSlot{}, false, err
		}
		return sl, true, nil
	}
	return versionSlot{}, false, nil
}

// chainIn is tree.chainIn: one stat not following a final link, and a
// second, following it, only for a cert.pem that is a link.
func (s *sysTree) chainIn(vdir string) (bool, int64, error) {
	p := filepath.Join(vdir, certFile)
	fi, err := s.stat(p, false)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		fi, err = s.stat(p, true)
	}
	return chainOf(fi, err)
}
