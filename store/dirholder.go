package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A process's locks of a Dir are hard links to one file of its own.
//
// Making a file is the dearest thing a renewal asks of the file system:
// a new inode cost 0.1 to 0.6 ms of kernel CPU on the machine where the
// renewal storm was measured, a hard link 15 µs, and a renewal took seven
// locks, each a new lock file (docs/benchmarks.md). So, while any lock of
// a Dir is held or wanted in a process, the Dir keeps one holder file,
// <root>/.locks/<token>.holder, saying what a lock file says (pid, host,
// process identity, since when, a token), and a lock is a hard link to it
// made at the lock file's name: link fails when the name exists, as
// O_EXCL did. One refresh of the holder's modification time refreshes
// every lock of the process.
//
// What another process sees is unchanged: a lock file exists while the
// lock is held, it says who holds it, its modification time is refreshed
// every StaleLockAfter/4, and a stale one is taken over as before
// (breakStale). A certkeeper that creates its lock files with O_EXCL and
// one that links them exclude each other. Where the file system refuses
// the link (no hard links there), the lock file is made with O_EXCL, one
// per hold, as before.
//
// The holder file and the lock files may be removed under the process
// (someone removing lockDir beside a running daemon). The refresh
// (renewHolder) makes the holder file again, at the same name and saying
// the same, and links each lock held through it again where its lock
// file is gone; a lock file found to be another's by then (a process took
// the lock while its file stood removed) makes the hold lost. Without the
// links put back, a daemon went on believing it held its store's lock
// while a second daemon took it.

// holderSuffix ends the name of a holder file in lockDir.
const holderSuffix = ".holder"

// lockHolder is a Dir's holder file in this process. users counts the
// locks held or wanted through it (guarded by Dir.holdMu); the last one
// to leave removes it.
type lockHolder struct {
	r     *tree
	path  string // lockDir/<token>.holder
	token string
	since time.Time // when it was first made; a remade file says so too
	users int

	// dir is lockDir opened when the holder file was made, nil where
	// names are resolved beneath r for each call (see lockDirFD); it is
	// replaced when the file is made again (reopen), the former ones
	// closed when the holder is left, when no lock uses them.
	dir    atomic.Pointer[lockDirFD]
	former []*lockDirFD // guarded by mu

	stop, done chan struct{} // the refresh

	mu sync.Mutex // serializes recreating the file
}

// hold is one hold of a lock.
type hold struct {
	name, p string
	// info is the file p was linked to, for a linked hold.
	info fs.FileInfo
	// lost is set when this process took the lock again while this
	// hold thought it held it: another process judged it stale, broke
	// it, and it came back here (a linked hold cannot tell this from
	// the file, which is the same).
	lost atomic.Bool
	// token and unlock are those of a lock file made for this hold
	// alone (the file system refused the link); token is "" otherwise.
	token  string
	unlock func() error
	// onLost, set when the hold is made and never changed, is told when
	// a refresh finds the hold lost (Dir.LockWatched); nil for a plain
	// Lock, which learns it at its unlock.
	onLost func(error)
}

// tellLost tells hd's watcher, if any, that hd was lost, naming the
// process whose lock file now stands at hd.p in r, if r is not nil and
// the file says (read only for a watched hold). The caller must not hold
// Dir.holdMu.
func (hd *hold) tellLost(r *tree) {
	if hd.onLost == nil {
		return
	}
	e := &LockLostError{Name: hd.name}
	if r != nil {
		if data, err := r.ReadFile(hd.p); err == nil {
			var li lockInfo
			if json.Unmarshal(data, &li) == nil && li.PID != 0 {
				e.PID, e.Host, e.Since = li.PID, li.Host, li.Acquired
			}
		}
	}
	hd.onLost(e)
}

// enterHolder returns d's holder, making it first if no lock of d is held
// or wanted in this process. The caller must call leaveHolder once.
func (d *Dir) enterHolder(stale time.Duration) (*lockHolder, error) {
	d.holdMu.Lock()
	defer d.holdMu.Unlock()
	if h := d.holder; h != nil {
		h.users++
		return h, nil
	}
	r, err := openTree(d.root)
	if err != nil {
		return nil, err
	}
	h := &lockHolder{r: r, token: newToken(), since: time.Now().UTC()}
	h.path = filepath.Join(lockDir, h.token+holderSuffix)
	if err := d.makeHolderFile(h); err != nil {
		r.Close()
		return nil, err
	}
	h.reopen()
	if !d.swept {
		d.swept = true
		sweepHolders(r, h.path, stale)
	}
	h.users = 1
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	go d.refreshHolder(h, stale)
	d.holder = h
	return h, nil
}

// makeHolderFile writes h's file, making lockDir first if it is missing
// (lockDir is not looked for at every lock: a storm takes seven per
// renewal).
func (d *Dir) makeHolderFile(h *lockHolder) error {
	self, host := d.self()
	li := lockInfo{PID: os.Getpid(), Host: host, Acquired: h.since, Token: h.token, Process: self}
	err := createLockFile(h.r, h.path, li)
	if errors.Is(err, fs.ErrNotExist) {
		if err := mkdirs(h.r, lockDir); err != nil {
			return err
		}
		err = createLockFile(h.r, h.path, li)
	}
	if errors.Is(err, fs.ErrExist) {
		return nil // made again by another goroutine (remade)
	}
	return err
}

// leaveHolder ends one use of h; the last removes it.
func (d *Dir) leaveHolder(h *lockHolder) {
	d.holdMu.Lock()
	h.users--
	last := h.users == 0
	if last {
		d.holder = nil
	}
	d.holdMu.Unlock()
	if last {
		close(h.stop)
		<-h.done
		h.r.Remove(h.path)
		if l := h.dir.Load(); l != nil {
			l.close()
		}
		for _, l := range h.former {
			l.close()
		}
		h.r.Close()
	}
}

// reopen opens lockDir again for h's links (after its file was made
// again: the directory may be a new one). The caller holds h.mu, or is
// the only user of h.
func (h *lockHolder) reopen() {
	if old := h.dir.Swap(openLockDir(h.r)); old != nil {
		h.former = append(h.former, old) // maybe in use: closed at the end
	}
}

// link makes the lock file p a hard link to h's file.
func (h *lockHolder) link(p string) error {
	if l := h.dir.Load(); l != nil {
		return l.link(h.path, p)
	}
	return h.r.Link(h.path, p)
}

// lstat describes the lock file p, not following a link.
func (h *lockHolder) lstat(p string) (fs.FileInfo, error) {
	if l := h.dir.Load(); l != nil {
		return l.lstat(p)
	}
	return h.r.Lstat(p)
}

// remove removes the lock file p.
func (h *lockHolder) remove(p string) error {
	if l := h.dir.Load(); l != nil {
		return l.remove(p)
	}
	return h.r.Remove(p)
}

// refreshHolder renews h every stale/4 until h.stop is closed.
func (d *Dir) refreshHolder(h *lockHolder, stale time.Duration) {
	defer close(h.done)
	t := time.NewTicker(max(stale/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			d.renewHolder(h)
		}
	}
}

// renewHolder touches h's file, which refreshes every lock linked to it,
// and sees that each lock held through h still has its lock file: the
// lock directory, or a lock file, removed under a live holder (someone
// cleaning the store) would otherwise leave locks this process believes
// it holds excluding no one.
//
// A holder file found missing is made again (and lockDir with it), at
// the same name and saying the same; a lock file found missing is linked
// again, at the same name, to the holder file; one that is a link to a
// former holder file of h (the holder file alone was removed) is touched
// itself. A lock file that is now another's (a process took the name
// while it stood free) makes the hold lost: it is forgotten here, its
// watcher, if any, is told (Dir.LockWatched), and its unlock reports
// ErrLockLost. It returns an error if the holder file could
// not be made or found (the next call tries again).
func (d *Dir) renewHolder(h *lockHolder) error {
	h.mu.Lock()
	now := time.Now()
	err := h.r.Chtimes(h.path, now, now)
	if errors.Is(err, fs.ErrNotExist) {
		err = d.remakeHolderFile(h)
	}
	var hfi fs.FileInfo
	if err == nil {
		hfi, err = h.lstat(h.path)
		if errors.Is(err, fs.ErrNotExist) {
			// lockDir replaced under the directory h had open.
			h.reopen()
			hfi, err = h.lstat(h.path)
		}
	}
	h.mu.Unlock()
	if err != nil {
		return err
	}
	var lost []*hold
	defer func() {
		for _, hd := range lost {
			hd.tellLost(h.r)
		}
	}()
	d.holdMu.Lock()
	defer d.holdMu.Unlock()
	for name, hd := range d.holds {
		fi, err := h.lstat(hd.p)
		switch {
		case err == nil && sameFile(fi, hfi):
			// Linked to the holder file: refreshed with it.
		case err == nil && sameFile(fi, hd.info) && h.owns(hd.p):
			// Linked to a former holder file (removed alone). Its
			// token, not its inode, tells it ours: a removed file's
			// inode number may be another's file's now.
			h.r.Chtimes(hd.p, now, now)
		case errors.Is(err, fs.ErrNotExist):
			err := h.link(hd.p)
			if err == nil {
				hd.info = hfi
			} else if errors.Is(err, fs.ErrExist) {
				hd.lost.Store(true) // taken in the instant since the lstat
				delete(d.holds, name)
				lost = append(lost, hd)
			}
		case err == nil:
			hd.lost.Store(true)
			delete(d.holds, name)
			lost = append(lost, hd)
		}
	}
	return nil
}

// owns reports whether the lock file p says h's token.
func (h *lockHolder) owns(p string) bool {
	token, err := readToken(h.r, p)
	return err == nil && token == h.token
}

// remakeHolderFile makes h's file again after it was removed, and opens
// lockDir again for h's links (the directory may be a new one). The
// caller holds h.mu.
func (d *Dir) remakeHolderFile(h *lockHolder) error {
	if err := d.makeHolderFile(h); err != nil {
		return err
	}
	h.reopen()
	return nil
}

// tryLock takes the lock whose file is p, by a link to h's file, or by a
// file of its own where the file system refuses the link. It fails with
// an error wrapping fs.ErrExist if the lock is held.
func (d *Dir) tryLock(h *lockHolder, p, name string, stale time.Duration, onLost func(error)) (*hold, error) {
	hd := &hold{name: name, p: p, onLost: onLost}
	for remade := d.noHardLinks; !d.noHardLinks; remade = true {
		d.holdMu.Lock()
		err := h.link(p)
		if err == nil {
			var info fs.FileInfo
			info, err = h.lstat(p)
			if err != nil {
				h.remove(p)
				d.holdMu.Unlock()
				return nil, err
			}
			hd.info = info
			prev := d.holds[name]
			if prev != nil {
				prev.lost.Store(true)
			}
			if d.holds == nil {
				d.holds = map[string]*hold{}
			}
			d.holds[name] = hd
			d.holdMu.Unlock()
			if prev != nil {
				// Taken over by another process, which has let it go:
				// the file at p is this new hold's, not who took it.
				prev.tellLost(nil)
			}
			return hd, nil
		}
		d.holdMu.Unlock()
		switch {
		case errors.Is(err, fs.ErrExist):
			return nil, fs.ErrExist
		case errors.Is(err, fs.ErrNotExist) && !remade:
			// The holder file (or lockDir) was removed under us: made
			// again, at the same name, with the lock files of the locks
			// held through it.
			if err := d.renewHolder(h); err != nil {
				return nil, err
			}
			continue
		}
		break
	}
	// No hard link here: a lock file of this hold's own.
	self, host := d.self()
	hd.token = newToken()
	li := lockInfo{Name: name, PID: os.Getpid(), Host: host, Acquired: time.Now().UTC(), Token: hd.token, Process: self}
	if err := createLockFile(h.r, p, li); err != nil {
		return nil, err
	}
	hd.unlock = startHolding(h.r, p, li, stale, func() { hd.tellLost(h.r) })
	return hd, nil
}

// unlockHold releases hd, taken through h, and ends that use of h. It
// fails if the lock was taken over meanwhile, leaving the lock file to
// its new holder.
func (d *Dir) unlockHold(h *lockHolder, hd *hold) error {
	defer d.leaveHolder(h)
	if hd.unlock != nil {
		return hd.unlock()
	}
	d.holdMu.Lock()
	defer d.holdMu.Unlock()
	if d.holds[hd.name] == hd {
		delete(d.holds, hd.name)
	}
	fi, err := h.lstat(hd.p)
	if hd.lost.Load() || err != nil || !sameFile(fi, hd.info) {
		return fmt.Errorf("store: lock %q was taken over, or its lock file removed, before it was released: %w", hd.name, ErrLockLost)
	}
	if err := h.remove(hd.p); err != nil {
		return fmt.Errorf("store: unlock %q: %w", hd.name, err)
	}
	return nil
}

// createLockFile creates the file p holding li, failing with an error
// wrapping fs.ErrExist if it exists. A file it could not write whole is
// removed.
func createLockFile(r *tree, p string, li lockInfo) error {
	f, err := r.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	info, _ := json.Marshal(li)
	_, werr := f.Write(append(info, '\n'))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		r.Remove(p)
		return err
	}
	return nil
}

// sweepHolders removes the holder files in lockDir, other than mine, of
// processes that died: known gone (holderGone) or not refreshed for
// stale. A Dir looks once, when it first takes a lock.
func sweepHolders(r *tree, mine string, stale time.Duration) {
	ents, err := fs.ReadDir(r.FS(), lockDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(lockDir, e.Name())
		if !strings.HasSuffix(e.Name(), holderSuffix) || p == mine || !e.Type().IsRegular() {
			continue
		}
		fi, err := r.Lstat(p)
		if err != nil {
			continue
		}
		var li lockInfo
		data, err := r.ReadFile(p)
		if time.Since(fi.ModTime()) >= stale || err == nil && json.Unmarshal(data, &li) == nil && holderGone(li) {
			r.Remove(p)
		}
	}
}
