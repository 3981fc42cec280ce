package store

import (
	"context"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// lockDir is where Dir keeps its lock files. Its leading dot keeps it out
// of every key's way.
const lockDir = ".locks"

// Lock acquires the lock called name, which may be any string of 1 to
// MaxKeyLen bytes, among every process using the same directory.
//
// The lock is the file <root>/.locks/<hash of name>.lock, which exists
// while the lock is held: a hard link, made where no file of that name
// exists, to this process's holder file <root>/.locks/<token>.holder
// (where the file system has no hard links, a file of the lock's own,
// created with O_EXCL; see dirholder.go). It holds the pid, host and
// time for people reading it. While a lock is held a goroutine refreshes
// the file's modification time every StaleLockAfter/4; a waiter takes over a lock whose file has
// not been touched for StaleLockAfter, on the grounds that its holder
// died, and at once one whose file shows that its holder's process is
// gone (on this host, where the system tells: see holderGone). Waiters
// poll with a backoff of 10 ms growing to 250 ms, and try again at once
// when a lock of the same Dir is released in this process; they give up
// when ctx is done.
//
// The returned function removes the lock file (and the holder file, when
// no other lock of the Dir is held or wanted in this process). It
// returns an error if the lock was lost meanwhile, wrapping ErrLockLost:
// taken over (the holder stalled for longer than StaleLockAfter), or its
// lock file removed and not put back; and an error when called a second
// time.
//
// A lock file removed while its lock is held (someone removing the lock
// directory, or the file) is put back by the holder's next refresh, at
// the same name and saying the same, where no file of that name exists;
// the holder file, if removed, is made again first, and a lock file still
// linked to a removed holder file is refreshed itself. Between the
// removal and that refresh (at most StaleLockAfter/4) the lock excludes
// no one: another process may take it then, and if it still holds it at
// the refresh, the lock is lost to it (its file is left to it; the
// returned function reports ErrLockLost). One that took the lock and
// released it within that window goes unseen. A holder that must not run
// on once its lock is lost (a daemon) takes it with LockWatched or
// TryLockWatched instead, whose context that refresh cancels.
//
// The lock files of a process are made in the lock directory its holder
// opened when the process came to hold or want its first lock of the Dir:
// a store directory renamed away and made again while a lock is held
// (a daemon holds one for its life) keeps that process's locks in the
// directory renamed away, where others do not look, until it holds none;
// restart such a process after moving its store.
func (d *Dir) Lock(ctx context.Context, name string) (func() error, error) {
	return d.lock(ctx, name, true, nil)
}

// TryLocker is an optional interface of a Store whose locks can be tried
// without waiting, for a program that must refuse to run beside another
// one (a second daemon on one store) rather than queue behind it.
//
// TryLock acquires the lock called name like Store.Lock if no one holds
// it, and otherwise returns at once an error wrapping ErrLockBusy, which
// SHOULD say who holds it. It is the Store.Lock counterpart of
// FencedLocker.TryLockFenced.
type TryLocker interface {
	TryLock(ctx context.Context, name string) (unlock func() error, err error)
}

var _ TryLocker = (*Dir)(nil)

// TryLock is Lock that does not wait (see TryLocker): when another holder
// has the lock, and its lock file is not stale, it returns an error
// wrapping ErrLockBusy that names the holder's pid, host and the time it
// took the lock, as its lock file tells them.
func (d *Dir) TryLock(ctx context.Context, name string) (func() error, error) {
	return d.lock(ctx, name, false, nil)
}

// lock takes the lock called name, waiting for it if wait is set. A
// refresh that finds the hold lost calls onLost, if not nil, with the
// error saying so (see Dir.LockWatched); the hold's unlock reports the
// loss either way.
func (d *Dir) lock(ctx context.Context, name string, wait bool, onLost func(error)) (func() error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateLockName(name); err != nil {
		return nil, err
	}
	stale := d.StaleLockAfter
	if stale <= 0 {
		stale = DefaultStaleLockAfter
	}
	h, err := d.enterHolder(stale)
	if err != nil {
		return nil, d.lockErr(name, err)
	}
	p := lockPath(name)
	delay := 10 * time.Millisecond
	for {
		released := d.releasedChan()
		hd, err := d.tryLock(h, p, name, stale, onLost)
		if err == nil {
			var once sync.Once
			return func() error {
				err := fmt.Errorf("store: lock %q already released", name)
				once.Do(func() {
					err = d.unlockHold(h, hd)
					if err != nil {
						// Taken over while held: this holder may have
						// written after its successor cleared.
						d.forgetTidy(name)
					}
					d.release()
				})
				return err
			}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			d.leaveHolder(h)
			return nil, d.lockErr(name, err)
		}
		if retry, broke := breakStale(h.r, p, stale); retry {
			if broke {
				d.forgetTidy(name)
			}
			continue
		}
		if !wait {
			defer d.leaveHolder(h)
			return nil, busyError(h.r, p, name)
		}
		t := time.NewTimer(delay + rand.N(delay/2))
		select {
		case <-ctx.Done():
			t.Stop()
			d.leaveHolder(h)
			return nil, ctx.Err()
		case <-t.C:
		case <-released:
			// Polling alone, many goroutines of one process waiting for
			// the same lock (a renewal storm's index appends) slept up
			// to 250 ms each while it stood free.
			t.Stop()
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

// self returns this process's identity and host name for lock files,
// read once per Dir: a renewal storm takes several locks per
// certificate, and reading them from /proc each time showed in its
// profile.
func (d *Dir) self() (*processID, string) {
	d.selfOnce.Do(func() {
		d.selfID = selfProcess()
		d.host, _ = os.Hostname()
	})
	return d.selfID, d.host
}

// releasedChan returns the channel closed at the next release of a lock
// of d in this process.
func (d *Dir) releasedChan() chan struct{} {
	d.releasedMu.Lock()
	defer d.releasedMu.Unlock()
	if d.released == nil {
		d.released = make(chan struct{})
	}
	return d.released
}

// release wakes the goroutines waiting for a lock of d.
func (d *Dir) release() {
	d.releasedMu.Lock()
	defer d.releasedMu.Unlock()
	if d.released != nil {
		close(d.released)
		d.released = nil
	}
}

// busyError describes the holder of the lock file at p.
func busyError(r *tree, p, name string) error {
	data, err := r.ReadFile(p)
	var li lockInfo
	if err != nil || json.Unmarshal(data, &li) != nil || li.PID == 0 {
		return fmt.Errorf("store: lock %q: %w", name, ErrLockBusy)
	}
	return &LockBusyError{Name: name, PID: li.PID, Host: li.Host, Since: li.Acquired}
}

// lockPath names the lock file for name. Hashing lets lock names be any
// string without any of them reaching outside lockDir.
func lockPath(name string) string {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(lockDir, hex.EncodeToString(sum[:16])+".lock")
}

type lockInfo struct {
	Name     string    `json:"name"`
	PID      int       `json:"pid"`
	Host     string    `json:"host,omitempty"`
	Acquired time.Time `json:"acquired"`
	// Token tells this holder's file from a later one: inode numbers
	// are reused, so file identity cannot.
	Token string `json:"token"`
	// Process identifies the holder's process beyond its pid, where the
	// system tells (Linux), so that a lock whose holder died (killed, a
	// power loss) is taken over at once rather than after
	// StaleLockAfter: see holderGone.
	Process *processID `json:"process,omitempty"`
}

func newToken() string {
	var b [16]byte
	cryptoRead(b[:])
	return hex.EncodeToString(b[:])
}

// readToken returns the token in the lock file at p.
func readToken(r *tree, p string) (string, error) {
	data, err := r.ReadFile(p)
	if err != nil {
		return "", err
	}
	var li lockInfo
	json.Unmarshal(data, &li) // a torn or foreign file has no token
	return li.Token, nil
}

// tornLockAfter is how long a lock file without a token (empty, or cut
// short) may stand before breakStale takes it as its writer's leftover: a
// live writer writes it at once after creating it.
const tornLockAfter = 5 * time.Second

// breakStale removes the lock file at p if it has not been refreshed for
// stale, and reports whether it is worth trying to lock again at once.
//
// Two waiters may judge the same file stale. Each renames it to a name
// of its own first, which only one can do; the loser, if it grabbed a
// fresh lock that the winner had just created, links it back. A third
// waiter locking in that instant could still end up sharing the lock, so
// takeover is best effort: keep StaleLockAfter well above any pause a
// live holder may have.
//
// A lock whose holder is known to be dead (holderGone: a process of this
// host that no longer runs) is broken the same way without waiting for
// stale.
func breakStale(r *tree, p string, stale time.Duration) (retry, broke bool) {
	fi, err := r.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return true, false // released meanwhile
	}
	if err != nil {
		return false, false
	}
	// fresh is the age under which the file, once renamed aside, is
	// taken as a live holder's and put back.
	fresh := stale
	var judged string
	if age := time.Since(fi.ModTime()); age < stale {
		data, err := r.ReadFile(p)
		var li lockInfo
		if err != nil {
			return false, false
		}
		jerr := json.Unmarshal(data, &li)
		switch {
		case (jerr != nil || li.Token == "") && age >= tornLockAfter:
			// Empty or torn, and not written since: its writer was
			// killed between creating and writing it, or a power loss
			// kept the name and not the contents. Waiting StaleLockAfter
			// for it blocked every command for two minutes.
			fresh = tornLockAfter
		case jerr == nil && holderGone(li):
			fresh = 0
		default:
			return false, false
		}
		// The token of the holder judged dead, from the same read: a
		// second read could meet a new, live holder's file.
		judged = li.Token
	} else {
		if judged, err = readToken(r, p); err != nil {
			return errors.Is(err, fs.ErrNotExist), false
		}
	}
	var b [8]byte
	cryptoRead(b[:])
	aside := p + ".stale-" + hex.EncodeToString(b[:])
	if err := r.Rename(p, aside); err != nil {
		return errors.Is(err, fs.ErrNotExist), false
	}
	got, serr := r.Stat(aside)
	token, terr := readToken(r, aside)
	if serr == nil && terr == nil && (token != judged || time.Since(got.ModTime()) < fresh) {
		r.Link(aside, p) // fails only if someone locked meanwhile
	} else {
		broke = true
	}
	r.Remove(aside)
	return true, broke
}

// leftoversMayExist reports whether the holder of the lock called name
// may find leftovers of a writer that died under it (see leftoverMemo):
// writers die holding the lock, and their lock file stays until a later
// locker takes it over (breakStale), so once this process has cleared
// them, or every certificate's were cleared in this boot
// (SweepLeftovers), only a takeover since, by it or another process, can
// have left new ones; the process that takes over looks. A crash of the
// machine, which may lose a lock file but keep synced temporary files,
// is a new boot.
func (d *Dir) leftoversMayExist(name string) bool {
	swept := d.sweptThisBoot()
	d.tidyMu.Lock()
	defer d.tidyMu.Unlock()
	return d.dirty.has(name) || !swept && !d.tidy.has(name)
}

// leftoversCleared records that the holder of the lock called name
// cleared its leftovers.
func (d *Dir) leftoversCleared(name string) {
	d.tidyMu.Lock()
	defer d.tidyMu.Unlock()
	d.tidy.add(name)
	d.dirty.remove(name)
}

// forgetTidy drops the memo of the lock called name: its holder was
// taken over.
func (d *Dir) forgetTidy(name string) {
	d.tidyMu.Lock()
	defer d.tidyMu.Unlock()
	d.tidy.remove(name)
	d.dirty.add(name)
}

// startHolding starts refreshing the lock file p made for one hold,
// saying li (see Dir.tryLock), and returns its unlock function. A refresh
// that finds the file another's calls lost, and refreshes no more.
func startHolding(r *tree, p string, li lockInfo, stale time.Duration, lost func()) func() error {
	name, token := li.Name, li.Token
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(stale/4, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if !refreshLockFile(r, p, li) {
					lost()
					return // taken over; unlock will say so too
				}
			}
		}
	}()
	var once sync.Once
	return func() error {
		err := fmt.Errorf("store: lock %q already released", name)
		once.Do(func() {
			close(stop)
			<-done
			if got, rerr := readToken(r, p); rerr != nil || got != token {
				err = fmt.Errorf("store: lock %q was taken over, or its lock file removed, before it was released: %w", name, ErrLockLost)
				return
			}
			err = r.Remove(p)
			if err != nil {
				err = fmt.Errorf("store: unlock %q: %w", name, err)
			}
		})
		return err
	}
}

// refreshLockFile touches the lock file p made for one hold, saying li,
// or makes it again, at the same name and saying the same, if it was
// removed (lockDir with it, or alone: see Dir.renewHolder). It reports
// false when the file is another's: taken over, or made by another
// process while it stood removed.
func refreshLockFile(r *tree, p string, li lockInfo) bool {
	got, err := readToken(r, p)
	if errors.Is(err, fs.ErrNotExist) {
		err = createLockFile(r, p, li)
		if errors.Is(err, fs.ErrNotExist) && mkdirs(r, lockDir) == nil {
			err = createLockFile(r, p, li)
		}
		return !errors.Is(err, fs.ErrExist)
	}
	if err == nil && got != li.Token {
		return false
	}
	now := time.Now()
	r.Chtimes(p, now, now)
	return true
}

func cryptoRead(b []byte) { _, _ = cryptorand.Read(b) }
