package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// mkdirs creates dir and its missing parents with mode 0700, syncing each
// parent whose entries changed so that the new directories survive a
// crash.
func mkdirs(r *tree, dir string) error {
	return mkdirsThen(r, dir, func(parent string) error { return syncDir(r, parent) })
}

// mkdirsThen is mkdirs that calls synced with each parent to sync, in
// the order they changed, rather than syncing it. It makes dir first and
// looks at its parents only if that fails for want of them: its callers
// come once a file could not be made for want of dir (PutBatch: once dir
// could not be opened), so a look first was a stat more for every
// directory made.
func mkdirsThen(r *tree, dir string, synced func(parent string) error) error {
	if dir == "." {
		return nil
	}
	parent := filepath.Dir(dir)
	err := r.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrNotExist) {
		if err := mkdirsThen(r, parent, synced); err != nil {
			return err
		}
		err = r.Mkdir(dir, 0o700)
	}
	if errors.Is(err, fs.ErrExist) {
		// There already (a concurrent Put made it), or something else
		// is: a directory, or a link to one, will do.
		fi, err := r.Stat(dir)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !r.modesKept {
		if err := r.Chmod(dir, 0o700); err != nil { // whatever the umask
			return err
		}
	}
	return synced(parent)
}

// chmodNew gives f, a file just made in r with mode perm, that mode
// whatever the umask: a chmod unless the umask kept it (tree.modesKept).
func chmodNew(r *tree, f writeFile, perm fs.FileMode) error {
	if r.modesKept {
		return nil
	}
	return f.Chmod(perm)
}

// tempPrefix begins the name of every temporary file or link Dir makes.
const tempPrefix = ".tmp-"

// tempTag is the part of a temporary file's name that tells which file it
// was to become: base (the key's last component), or, when base is too
// long for the whole name to fit in MaxComponentLen bytes, "~" and a hash
// of it ('~' is not allowed in keys, so the two forms never meet).
func tempTag(base string) string {
	if len(tempPrefix)+len(base)+1+16 <= MaxComponentLen {
		return base
	}
	h := sha256.Sum256([]byte(base))
	return "~" + hex.EncodeToString(h[:16])
}

// makeTemp calls create with a new temporary name in dir for a file
// that is to become dir/base, ".tmp-<tag>.<16 random hex digits>", until
// it does not fail with fs.ErrExist, and returns the name. Every
// temporary file or link of Dir is named here, so that removeTemps can
// tell whose it is.
func makeTemp(dir, base string, create func(name string) error) (string, error) {
	prefix := tempPrefix + tempTag(base) + "."
	for range 10 {
		var b [8]byte
		cryptoRead(b[:])
		name := filepath.Join(dir, prefix+hex.EncodeToString(b[:]))
		err := create(name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, err
	}
	return "", errors.New("store: cannot create a temporary file")
}

// createTemp creates a temporary file in dir for a file that is to become
// dir/base (see makeTemp).
func createTemp(r *tree, dir, base string) (string, writeFile, error) {
	var f writeFile
	name, err := makeTemp(dir, base, func(name string) (err error) {
		f, err = r.openWriter(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		return err
	})
	return name, f, err
}

// tempOf reports whether name is a temporary name makeTemp gave for
// tag's file.
func tempOf(name, tag string) bool {
	rest, ok := strings.CutPrefix(name, tempPrefix+tag+".")
	if !ok || len(rest) != 16 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}

// removeTemps removes the temporary files and links that writers left in
// dir (a key prefix without its trailing slash, "." for the root) for the
// keys dir/base, one for each base given, or, with no base, every
// temporary file in dir and the directories under it, and then the
// directories under dir that this leaves empty. Only a caller that holds
// the lock under which every write of those keys is made may call it: no
// one else can be writing them, so whatever temporary file is there was
// left by a writer that died. It reports nothing: a file it cannot remove
// now will be met again. In a big directory, those of the keys' temporary
// files that the last look there saw are removed (see tempNames).
func (d *Dir) removeTemps(dir string, bases ...string) {
	r, err := d.current()
	if err != nil {
		return
	}
	defer r.Close()
	tags := make([]string, len(bases))
	for i, b := range bases {
		tags[i] = tempTag(b)
	}
	if len(bases) > 0 {
		for _, name := range d.tempNames(r, dir) {
			for _, t := range tags {
				if tempOf(name, t) {
					if r.Remove(filepath.Join(dir, name)) == nil {
						syncDir(r, dir)
					}
					d.forgetTemp(dir, name)
					break
				}
			}
		}
		return
	}
	// kept counts what stays in each directory walked (its entries
	// other than the temporary files removed, a directory under it
	// counting until it is found empty), so that only the directories
	// this leaves empty are removed: trying every one (a certificate's
	// versions) cost four system calls each.
	var dirs []string
	kept := map[string]int{}
	fs.WalkDir(r.FS(), filepath.ToSlash(dir), func(p string, de fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case de.IsDir():
			if p != filepath.ToSlash(dir) && strings.HasPrefix(de.Name(), ".") {
				kept[path.Dir(p)]++
				return fs.SkipDir
			}
			if p != filepath.ToSlash(dir) {
				kept[path.Dir(p)]++
			}
			dirs = append(dirs, p)
			return nil
		case !strings.HasPrefix(de.Name(), tempPrefix):
			kept[path.Dir(p)]++
			return nil
		}
		if r.Remove(filepath.FromSlash(p)) == nil {
			syncDir(r, filepath.Dir(filepath.FromSlash(p)))
		} else {
			kept[path.Dir(p)]++
		}
		return nil
	})
	for i := len(dirs) - 1; i > 0; i-- { // not dir itself
		if kept[dirs[i]] > 0 {
			continue
		}
		if r.Remove(filepath.FromSlash(dirs[i])) == nil {
			syncDir(r, filepath.Dir(filepath.FromSlash(dirs[i])))
			kept[path.Dir(dirs[i])]--
		}
	}
}

// bigDir is the number of entries from which a directory's temporary
// files are looked for at most every tempLookEvery (see tempNames).
const bigDir = 256

// tempLookEvery is how long the temporary files seen in a big directory
// stand for what it holds.
const tempLookEvery = time.Minute

// tempNames returns the names of the temporary files in dir, reading only
// its names (no walk, no sort). A directory of bigDir entries or more
// (manager/<ca>, one state per certificate) is read at most every
// tempLookEvery: a renewal storm's lock holders, three per renewal, read
// it whole each time, which made a storm quadratic in the number of
// certificates. What it held then stands for it meanwhile: a temporary
// file another process that died left there since is removed at the
// next look, within tempLookEvery, rather than at once.
func (d *Dir) tempNames(r *tree, dir string) []string {
	now := time.Now()
	d.tempsMu.Lock()
	if now.Sub(d.tempsSince) > tempLookEvery || d.temps == nil {
		d.temps, d.tempsSince = map[string][]string{}, now
	}
	seen, ok := d.temps[dir]
	d.tempsMu.Unlock()
	if ok {
		return seen
	}
	f, err := r.Open(dir)
	if err != nil {
		return nil
	}
	names, _ := f.Readdirnames(-1)
	f.Close()
	var temps []string
	for _, name := range names {
		if strings.HasPrefix(name, tempPrefix) {
			temps = append(temps, name)
		}
	}
	if len(names) >= bigDir {
		d.tempsMu.Lock()
		d.temps[dir] = temps
		d.tempsMu.Unlock()
	}
	return temps
}

// forgetTemp drops name from what tempNames remembers of dir.
func (d *Dir) forgetTemp(dir, name string) {
	d.tempsMu.Lock()
	defer d.tempsMu.Unlock()
	if seen, ok := d.temps[dir]; ok {
		d.temps[dir] = slices.DeleteFunc(slices.Clone(seen), func(n string) bool { return n == name })
	}
}

func syncDir(r *tree, dir string) error { return r.syncDir(dir) }
