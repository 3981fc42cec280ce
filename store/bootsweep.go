package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Leftovers swept once per boot.
//
// The first lock a process takes of a certificate of a Dir looks for
// what writers of it that died left behind (clearLeftovers): a quarter of
// the store's work in a renewal storm after a start. Within one boot of
// the machine that look finds nothing a lock does not announce: a writer
// dies holding the certificate's lock, its lock file stays in lockDir
// until a later locker takes it over (breakStale), and the locker that
// takes it over looks (forgetTidy). What a lock file does not announce is
// what a crash of the machine left: the lock file may be lost with the
// page cache while the temporary files, synced, stay. So once every
// certificate's leftovers have been cleared in a boot (SweepLeftovers,
// which the manager runs when it starts), a marker in lockDir says so
// for that boot, and later processes of the same boot skip the look at a
// lock they took free. A removed lockDir (its lock files gone) takes the
// marker with it.

// sweptFile is the marker, in lockDir, naming the boot in which every
// certificate's leftovers were cleared.
const sweptFile = "swept"

// sweptMagic begins the marker's content; the boot's identity follows.
const sweptMagic = "certkeeper-leftovers-swept 1\n"

// bootIDFile names the current boot on Linux (random, made at boot).
const bootIDFile = "/proc/sys/kernel/random/boot_id"

// currentBoot returns the identity of the machine's current boot, "" where
// the system does not tell (then no boot is ever taken as swept).
func currentBoot() string {
	b, err := os.ReadFile(bootIDFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// bootSweeper is implemented by a Store whose leftovers can be swept once
// per boot: Dir.
type bootSweeper interface {
	// sweptThisBoot reports whether the marker names the current boot.
	sweptThisBoot() bool
	// markSwept writes the marker for boot, if it is still the current
	// one, and takes it for this process.
	markSwept(boot string) error
	// boot returns the current boot's identity ("" if unknown).
	boot() string
}

var _ bootSweeper = (*Dir)(nil)

func (d *Dir) boot() string {
	d.bootOnce.Do(func() { d.bootID = currentBoot() })
	return d.bootID
}

// sweptThisBoot reads the marker once per Dir (a marker written later by
// another process is seen by the next process), or reports what markSwept
// recorded.
func (d *Dir) sweptThisBoot() bool {
	if d.bootSwept.Load() {
		return true
	}
	d.sweptOnce.Do(func() {
		boot := d.boot()
		if boot == "" {
			return
		}
		r, err := d.current()
		if err != nil {
			return
		}
		defer r.Close()
		b, err := r.ReadFile(filepath.Join(lockDir, sweptFile))
		if err == nil && string(b) == sweptMagic+boot+"\n" {
			d.bootSwept.Store(true)
		}
	})
	return d.bootSwept.Load()
}

func (d *Dir) markSwept(boot string) error {
	if boot == "" || boot != currentBoot() {
		return errors.New("store: the machine's boot is unknown or changed during the sweep")
	}
	r, err := d.current()
	if err != nil {
		return err
	}
	defer r.Close()
	// Not synced: a marker lost in a crash is a boot to sweep again, and
	// a marker that outlives its boot names another one.
	if err := r.Mkdir(lockDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err // a store with no certificate has no lock directory yet
	}
	tmp := filepath.Join(lockDir, sweptFile+".tmp-"+newToken())
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(sweptMagic + boot + "\n")
	if err := errors.Join(werr, f.Close()); err != nil {
		r.Remove(tmp)
		return err
	}
	if err := r.Rename(tmp, filepath.Join(lockDir, sweptFile)); err != nil {
		r.Remove(tmp)
		return err
	}
	d.bootSwept.Store(true)
	return nil
}

// SweepLeftovers clears what writers that died left behind (temporary
// files, versions half written, top-level links a switch did not finish)
// in every certificate of the store, each under its lock, as a process's
// first lock of a certificate does; in a Dir on a system that names its
// boots (Linux), it then records that the current boot is swept, so that
// processes started later in the same boot skip that look at their first
// lock of each certificate (see bootsweep.go). A Dir swept already in this
// boot, another Store, and LayoutShared do nothing. It stops at the first
// error, recording nothing (ctx done, a certificate that cannot be
// locked or cleared); it takes a lock per certificate, for a few hundred
// microseconds each, and is meant to run beside the process's work, once
// when it starts (the manager's Run does).
func (c *Certs) SweepLeftovers(ctx context.Context) error {
	sw, ok := c.Store.(bootSweeper)
	if !ok || c.Layout == LayoutShared || sw.sweptThisBoot() {
		return nil
	}
	boot := sw.boot()
	if boot == "" {
		return nil
	}
	sl, ok := c.Store.(subdirLister)
	if !ok {
		return nil
	}
	cas, err := sl.subdirs(ctx, certsDir)
	if err != nil {
		return fmt.Errorf("store: sweeping leftovers: %w", err)
	}
	for _, caDir := range cas {
		if strings.HasPrefix(caDir, ".") || certsDir+"/"+caDir == indexDir {
			continue
		}
		names, err := sl.subdirs(ctx, certsDir+"/"+caDir)
		if err != nil {
			return fmt.Errorf("store: sweeping leftovers: %w", err)
		}
		for _, enc := range names {
			if _, err := DecodeName(enc); err != nil {
				continue
			}
			if err := c.sweepOne(ctx, caDir, enc); err != nil {
				return fmt.Errorf("store: sweeping leftovers of %s/%s: %w", caDir, enc, err)
			}
		}
	}
	return sw.markSwept(boot)
}

// sweepOne clears the leftovers of the certificate enc of caDir under its
// lock, unless this process cleared them already.
func (c *Certs) sweepOne(ctx context.Context, caDir, enc string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	unlock, err := c.lockEntry(ctx, caDir, enc)
	if err != nil {
		return err
	}
	unlock()
	return nil
}
