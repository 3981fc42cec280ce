package store

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Put writes value at key atomically, creating parent directories.
func (d *Dir) Put(ctx context.Context, key string, value []byte) error {
	return d.put(ctx, key, value, true)
}

// RelaxedPutter is an optional interface of a Store that can write a
// key atomically without waiting until the write survives a crash of
// the machine: for records that only save work after a restart (Certs
// writes a manager's renewal state with it).
//
// PutRelaxed is Put, as atomic (a reader, or a process started after the
// writer was killed, sees the old value or the new one, never a mix), but
// a crash of the system (power loss, kernel panic) soon after it returns
// may leave the old value or, in a store that cannot promise better, no
// value at all.
type RelaxedPutter interface {
	PutRelaxed(ctx context.Context, key string, value []byte) error
}

var _ RelaxedPutter = (*Dir)(nil)

// putRelaxed writes value at key in s with PutRelaxed if s has it, else
// with Put.
func putRelaxed(ctx context.Context, s Store, key string, value []byte) error {
	if r, ok := s.(RelaxedPutter); ok {
		return r.PutRelaxed(ctx, key, value)
	}
	return s.Put(ctx, key, value)
}

// PutRelaxed is Put without its fsyncs (see RelaxedPutter): the value is
// written to a temporary file and renamed over the key, which the system
// writes to disk later (ext4 within 5 s by default). After a crash of the
// system meanwhile the key holds the old value, or, on some filesystems,
// an empty or partly written file where none existed before; a process
// killed meanwhile loses nothing, the rename being done.
func (d *Dir) PutRelaxed(ctx context.Context, key string, value []byte) error {
	return d.put(ctx, key, value, false)
}

// put is Put, with its fsyncs if durable is set.
func (d *Dir) put(ctx context.Context, key string, value []byte, durable bool) (err error) {
	r, err := d.open(ctx, "put", key)
	if err != nil {
		return err
	}
	defer r.Close()
	if len(value) > MaxValueSize {
		return &fs.PathError{Op: "put", Path: key, Err: ErrTooLarge}
	}
	name := filepath.FromSlash(key)
	dir := filepath.Dir(name)
	// The directories are made when the temporary file cannot be for
	// want of them, not looked for before every write.
	tmp, f, err := createTemp(r, dir, filepath.Base(name))
	if errors.Is(err, fs.ErrNotExist) {
		if err := mkdirs(r, dir); err != nil {
			return pathErr("put", key, err)
		}
		tmp, f, err = createTemp(r, dir, filepath.Base(name))
	}
	if err != nil {
		return pathErr("put", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			r.Remove(tmp)
		}
	}()
	if err := chmodNew(r, f, 0o600); err != nil {
		return pathErr("put", key, err)
	}
	if _, err := f.Write(value); err != nil {
		return pathErr("put", key, err)
	}
	if durable {
		if err := f.Sync(); err != nil {
			return pathErr("put", key, err)
		}
	}
	if err := f.Close(); err != nil {
		return pathErr("put", key, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.Rename(tmp, name); err != nil {
		return pathErr("put", key, err)
	}
	// The value is in place; a failed directory sync only weakens
	// durability, but report it so the caller knows.
	if durable {
		if err := syncDir(r, dir); err != nil {
			return pathErr("put", key, err)
		}
	}
	d.removeStaleTemps(r, dir)
	return nil
}

// BatchPutter is an optional interface of a Store that writes several
// keys with one wait for the disk rather than one per key. Certs writes a
// certificate version's files (key, combined, metadata, chain) with it.
//
// PutBatch writes each entry as Put would, with the same atomicity per
// key. The keys are switched to their new values in the order given:
// a writer that dies meanwhile leaves the first keys of the batch
// written and the others as they were, as a sequence of Puts would.
// Every value is durable when PutBatch returns nil. An error may leave
// some of the keys written.
type BatchPutter interface {
	PutBatch(ctx context.Context, entries []Entry) error
}

// Entry is one key and its value, for BatchPutter.
type Entry struct {
	Key   string
	Value []byte
}

var _ BatchPutter = (*Dir)(nil)

// PutBatch writes the entries (see BatchPutter): a temporary file for
// each, fsynced all at once (concurrently, so that the filesystem's
// journal commits them together, and with the parents of the
// directories it made), then renamed into place in the order given, then
// one fsync of each directory renamed into. Put for n keys
// waits for the disk 2n times; PutBatch into one directory twice,
// whatever n.
// It removes its temporary files on any error; a process killed
// meanwhile leaves them, as Put does.
func (d *Dir) PutBatch(ctx context.Context, entries []Entry) (err error) {
	if len(entries) == 0 {
		return ctx.Err()
	}
	r, err := d.open(ctx, "put", entries[0].Key)
	if err != nil {
		return err
	}
	defer r.Close()
	// A file's temporary file is made, renamed and its directory synced
	// through the directory opened once (tree.sub): names in it resolve
	// from it, and a rename is one system call rather than three.
	type tempFile struct {
		key, tmp, base string // tmp and base: names in dir
		dir            *tree
		f              writeFile
		renamed        bool
	}
	temps := make([]*tempFile, 0, len(entries))
	// newParents are the directories to sync for the directories made;
	// ready, those the files go in, looked for (or made) once each, and
	// opened (subs); made, those made here, which hold no stale
	// temporary file.
	var newParents, ready, made []string
	var subs []*tree
	defer func() {
		for _, t := range temps {
			if t.f != nil {
				t.f.Close()
			}
			if err != nil && !t.renamed {
				t.dir.Remove(t.tmp)
			}
		}
		for _, st := range subs {
			st.Close()
		}
	}()
	for _, e := range entries {
		if err := check(ctx, "put", e.Key); err != nil {
			return err
		}
		if len(e.Value) > MaxValueSize {
			return &fs.PathError{Op: "put", Path: e.Key, Err: ErrTooLarge}
		}
		name := filepath.FromSlash(e.Key)
		dir := filepath.Dir(name)
		if !slices.Contains(ready, dir) {
			// Opened for reading, so that it is synced through this
			// descriptor after the renames; made if it is missing, and
			// synced with the files below.
			st, err := r.subSynced(dir)
			if errors.Is(err, fs.ErrNotExist) {
				err = mkdirsThen(r, dir, func(parent string) error {
					if !slices.Contains(newParents, parent) {
						newParents = append(newParents, parent)
					}
					if parent == filepath.Dir(dir) { // dir itself was made
						made = append(made, dir)
					}
					return nil
				})
				if err == nil {
					st, err = r.subSynced(dir)
				}
			}
			if err != nil {
				return pathErr("put", e.Key, err)
			}
			ready, subs = append(ready, dir), append(subs, st)
		}
		st := subs[slices.Index(ready, dir)]
		tmp, f, err := createTemp(st, ".", filepath.Base(name))
		if err != nil {
			return pathErr("put", e.Key, err)
		}
		t := &tempFile{key: e.Key, tmp: tmp, base: filepath.Base(name), dir: st, f: f}
		temps = append(temps, t)
		if err := chmodNew(st, f, 0o600); err != nil {
			return pathErr("put", e.Key, err)
		}
		if _, err := f.Write(e.Value); err != nil {
			return pathErr("put", e.Key, err)
		}
	}
	errs := make([]error, len(temps)+len(newParents))
	var wg sync.WaitGroup
	for i, t := range temps {
		wg.Go(func() {
			if err := t.f.Sync(); err != nil {
				errs[i] = pathErr("put", t.key, err)
			}
		})
	}
	for i, p := range newParents {
		wg.Go(func() {
			if err := syncDir(r, p); err != nil {
				errs[len(temps)+i] = pathErr("put", filepath.ToSlash(p), err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, t := range temps {
		err := t.f.Close()
		t.f = nil
		if err != nil {
			return pathErr("put", t.key, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, t := range temps {
		if err := t.dir.Rename(t.tmp, t.base); err != nil {
			return pathErr("put", t.key, err)
		}
		t.renamed = true
	}
	for i, dir := range ready {
		if err := syncDir(subs[i], "."); err != nil {
			return pathErr("put", filepath.ToSlash(dir), err)
		}
	}
	for _, dir := range ready {
		if !slices.Contains(made, dir) {
			d.removeStaleTemps(r, dir)
		}
	}
	return nil
}

// staleTempAfter is how old a temporary file must be before Put takes it
// for the leftover of a writer that died (kill -9, a crash) and removes
// it: far longer than any write takes. Certs removes the temporary files
// of its own records at once, under their lock (see removeTemps); this
// is for the rest.
const staleTempAfter = time.Hour

// staleScanEvery is how often at most Put looks for stale temporary
// files in one directory: none can turn stale (staleTempAfter) sooner,
// and a directory of many keys (the manager's states) would otherwise be
// read whole at each Put into it.
const staleScanEvery = 10 * time.Minute

// removeStaleTemps removes, best effort, the temporary files in dir that
// writers which died left behind, so that a store killed mid-write is
// cleaned by a later write there rather than never. It looks at a
// directory at most once per staleScanEvery.
func (d *Dir) removeStaleTemps(r *tree, dir string) {
	now := time.Now()
	d.scannedMu.Lock()
	if now.Sub(d.scannedSince) > staleScanEvery {
		// Forgotten every period: the set holds the directories
		// written in one period at most.
		d.scanned, d.scannedSince = nameSet{}, now
	}
	seen := d.scanned.has(dir)
	d.scanned.add(dir)
	d.scannedMu.Unlock()
	if seen {
		return
	}
	f, err := r.Open(dir)
	if err != nil {
		return
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTempAfter {
			r.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
