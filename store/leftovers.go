package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// tempRemover is implemented by a Store whose writers, when killed, leave
// temporary files behind: Dir (see Dir.removeTemps). A wrapper that
// embeds a *Dir has it too.
type tempRemover interface {
	removeTemps(dir string, bases ...string)
}

// lockRecord takes the lock of the certificate called name from ca, the
// one its saves hold, around the write of one of its other records (its
// renewal state, lineage record or a revocation), and clears the
// certificate's leftovers under it, when the store is one that leaves
// temporary files (a Dir): every key of the certificate is then written
// under this lock, so its holder knows that a temporary file of any of
// them was left by a writer that died. Other stores write without it.
func (c *Certs) lockRecord(ctx context.Context, ca, name string) (func(), error) {
	if _, ok := c.Store.(tempRemover); !ok {
		return func() {}, nil
	}
	caDir, enc, err := c.scheme().entryNames(ca, name)
	if err != nil {
		return nil, err
	}
	return c.lockEntry(ctx, caDir, enc)
}

// leftoverMemo is implemented by a Store that remembers, per lock, that
// its holders' leftovers were cleared and none can have been left since:
// Dir (see Dir.leftoversMayExist).
type leftoverMemo interface {
	// leftoversMayExist reports whether a writer holding the lock called
	// name may have left something behind that no one cleared: true
	// unless leftoversCleared was called for it in this process and no
	// holder of it was taken over since (a taken-over holder died or
	// stalled, maybe in the middle of a write).
	leftoversMayExist(name string) bool
	// leftoversCleared records that the caller, holding the lock, has
	// cleared them.
	leftoversCleared(name string)
}

// lockEntry holds the lock of the certificate enc of caDir (certLock)
// and clears what writers of it that died left behind (clearLeftovers),
// unless the store remembers that there can be none (leftoverMemo): a
// renewal takes this lock three times, and the look for leftovers was a
// third of a renewal storm's system calls.
func (c *Certs) lockEntry(ctx context.Context, caDir, enc string) (func(), error) {
	unlock, err := c.certLock(ctx, caDir, enc)
	if err != nil {
		return nil, err
	}
	name := certLockName(caDir, enc)
	memo, ok := c.Store.(leftoverMemo)
	if ok && !memo.leftoversMayExist(name) {
		return unlock, nil
	}
	if err := c.clearLeftovers(ctx, caDir, enc); err != nil {
		unlock()
		return nil, err
	}
	if ok {
		memo.leftoversCleared(name)
	}
	return unlock, nil
}

// clearLeftovers removes what writers of the certificate enc from caDir
// (see scheme.entryNames) that died left behind: the temporary files of
// its keys (a Dir's), versions without their chain (a version being
// written or pruned), top-level links that disagree with the current
// version. The caller holds the certificate's lock (certLock), under
// which every key of the certificate is written.
func (c *Certs) clearLeftovers(ctx context.Context, caDir, enc string) error {
	return c.scheme().clearLeftovers(ctx, caDir, enc)
}

// rollBackVersions deletes the versions in dir that have files but no
// chain: a writer died while writing or pruning them. cert.pem is a
// version's last file written and first deleted (writeVersion,
// deleteTree), so no reader ever took them for a version. It returns the
// keys of the versions' files that stay.
func (c *Certs) rollBackVersions(ctx context.Context, dir string) ([]string, error) {
	ks, err := c.Store.List(ctx, dir+"/"+versionsDir+"/")
	if err != nil {
		return nil, err
	}
	whole := map[string]bool{}
	for _, k := range ks {
		v, file, ok := strings.Cut(strings.TrimPrefix(k, dir+"/"+versionsDir+"/"), "/")
		if ok {
			whole[v] = whole[v] || file == certFile
		}
	}
	partial := false
	for v, ok := range whole {
		if !ok {
			partial = true
			if err := c.deleteTree(ctx, dir+"/"+versionsDir+"/"+v); err != nil {
				return nil, err
			}
		}
	}
	if partial {
		ks = slices.DeleteFunc(ks, func(k string) bool {
			v, _, _ := strings.Cut(strings.TrimPrefix(k, dir+"/"+versionsDir+"/"), "/")
			return !whole[v]
		})
	}
	return ks, nil
}

// repairTop makes the top-level links of a Linker store's certificate in
// dir agree with its current version (see switchTo), for a writer that
// died between the switch and its last link: a link to a file the
// version lacks is removed, a missing link to one it has is made (a
// store written by an older certkeeper, which made them after the
// switch). It writes nothing when they agree. listed are the keys of the
// files of dir's versions (rollBackVersions), which say which files the
// current version has.
func (c *Certs) repairTop(ctx context.Context, dir string, listed []string) error {
	l, ok := c.Store.(Linker)
	if !ok {
		return nil
	}
	n, foreign, err := c.currentForSave(ctx, dir, nil)
	if err != nil || foreign {
		return err // a live link not the store's: the next save replaces it
	}
	if n == 0 || !slices.Contains(listed, versionKey(dir, n)+"/"+certFile) {
		// live missing (a first save killed before its switch, a backup
		// tool that drops links) or leading to a version without its
		// chain: readers read the newest whole version (readVersion),
		// which is made current, as a save would, so that the files at
		// the top are there again.
		m, err := c.readVersion(ctx, dir)
		if err != nil || m == 0 || m == n {
			return err
		}
		return c.switchTo(ctx, dir, m, false, nil)
	}
	targets, errs := readlinks(ctx, l, dir, liveFiles[:])
	for i, f := range liveFiles {
		has := slices.Contains(listed, versionKey(dir, n)+"/"+f)
		t, err := targets[i], errs[i]
		switch {
		case errors.Is(err, ErrNotLink):
			// A file of the unversioned layout that a switch has not
			// replaced yet: the next switch does.
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return err
		case has && (err != nil || t != liveLink+"/"+f):
			if err := l.Symlink(ctx, dir+"/"+f, liveLink+"/"+f); err != nil {
				return fmt.Errorf("store: repairing %s/%s: %w", dir, f, err)
			}
		case !has && err == nil:
			if err := ignoreMissing(c.Store.Delete(ctx, dir+"/"+f)); err != nil {
				return err
			}
		}
	}
	return nil
}
