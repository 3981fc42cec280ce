package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
)

// MigrationReport says what Certs.Migrate did.
type MigrationReport struct {
	// Moved lists the directories (or, for renewal state, the keys)
	// moved, each from its old key to its new one.
	Moved []Move
	// Conflicts lists the old keys left in place because their new key
	// holds something else; nothing was deleted for them.
	Conflicts []string
	// Unknown lists the old directories or keys left in place because
	// the CA they belong to could not be told (no meta.json, account.json
	// or certificate saying so).
	Unknown []string
}

// Move is one directory or key moved by Certs.Migrate.
type Move struct{ From, To string }

// migration remembers that a Certs migrated its store.
type migration struct {
	mu   sync.Mutex
	done bool
}

// migrateOnce runs Migrate before the first write of c.
func (c *Certs) migrateOnce(ctx context.Context) error {
	c.mig.mu.Lock()
	defer c.mig.mu.Unlock()
	if c.mig.done {
		return nil
	}
	var rep MigrationReport
	locked, err := c.migrate(ctx, &rep)
	if err != nil && !locked {
		// Not a migration's failure: a store whose locks cannot be
		// taken (read-only, full, .locks not a directory) fails every
		// write so, and saying "moving what an older certkeeper
		// stored" sent users looking for an old store.
		return err
	}
	if err != nil {
		return fmt.Errorf("store: moving what an older certkeeper stored: %w", err)
	}
	c.mig.done = true
	return nil
}

// Migrate moves what older versions of certkeeper stored under keys that
// the current layout no longer uses:
//
//   - in LayoutStandard, certificates/<host-port>/<name>/… and
//     accounts/<host-port>/<id>/… to the CADirName of the full directory
//     URL found in their meta.json or account.json ("ca"), and
//     manager/<host-port>/<name>.json to StateKey, with the CA of the
//     certificate of that name or, failing that, the one CA that the
//     host-port directory is known to hold;
//   - in LayoutShared, manager/<any>/<name>.json to
//     certkeeper/manager/<name>.json.
//
// Each directory is copied first (every value written durably, the one
// that makes it visible last), and its old keys are deleted only once the
// copy is complete. A key whose new place already holds a different value
// is a conflict: that directory is left in place, whole, and reported. So
// a crash at any point leaves a complete copy in one place or the other,
// never loses a key, and Migrate run again finishes the work. Migrate
// holds the store lock "certkeeper/migrate", so two processes may run it
// at once. CA directories whose names hold '_' or '+' are taken to be
// CADirName's already and are not read: a CA host name with '_' or '+'
// (not a valid DNS name) is left where it is, where readers still find
// it. Certs runs it by itself before its first write; readers find
// what is not yet moved in its old place meanwhile.
func (c *Certs) Migrate(ctx context.Context) (MigrationReport, error) {
	var rep MigrationReport
	_, err := c.migrate(ctx, &rep)
	return rep, err
}

// migrate is Migrate; locked reports whether it took the migration lock
// (an error without it is the lock's).
func (c *Certs) migrate(ctx context.Context, rep *MigrationReport) (locked bool, err error) {
	unlock, err := c.Store.Lock(ctx, migrationLock)
	if err != nil {
		return false, err
	}
	defer unlock()
	return true, c.scheme().migrate(ctx, rep)
}

// migrate moves the certificate and account directories named after a
// host and port, and the renewal states, to CADirName's directories.
func (s standardScheme) migrate(ctx context.Context, rep *MigrationReport) error {
	c := s.c
	// What each old CA directory is known to hold: CA URLs seen in it,
	// and the CA of each certificate.
	hostCAs := map[string]map[string]bool{}
	certCA := map[string]string{} // "<ca dir>/<name>" → URL
	note := func(caDir, url string) {
		if hostCAs[caDir] == nil {
			hostCAs[caDir] = map[string]bool{}
		}
		hostCAs[caDir][url] = true
	}
	for _, area := range []string{certsDir, accountsDir} {
		var groups []group
		prefixes, err := c.legacyPrefixes(ctx, area)
		if err != nil {
			return err
		}
		for _, p := range prefixes {
			gs, err := c.groups(ctx, p, 3)
			if err != nil {
				return err
			}
			groups = append(groups, gs...)
		}
		for _, g := range groups {
			caDir := strings.Split(g.dir, "/")[1]
			if newDirLike(caDir) {
				continue // named by this version; nothing to read or move
			}
			ca := c.caOf(ctx, g)
			if ca == "" {
				rep.Unknown = append(rep.Unknown, g.dir)
				continue
			}
			note(caDir, ca)
			dst, err := CADirName(ca)
			if err != nil {
				rep.Unknown = append(rep.Unknown, g.dir)
				continue
			}
			if area == certsDir {
				certCA[caDir+"/"+path.Base(g.dir)] = ca
			}
			if dst == caDir {
				continue
			}
			to := area + "/" + dst + "/" + path.Base(g.dir)
			if err := c.moveGroup(ctx, g, to, rep); err != nil {
				return err
			}
		}
	}
	// Renewal state: manager/<ca dir>/<name>.json.
	prefixes, err := c.legacyPrefixes(ctx, legacyStateDir)
	if err != nil {
		return err
	}
	var ks []string
	for _, p := range prefixes {
		pks, err := c.Store.List(ctx, p)
		if err != nil {
			return err
		}
		ks = append(ks, pks...)
	}
	for _, k := range ks {
		parts := strings.Split(k, "/")
		if len(parts) != 3 || !strings.HasSuffix(parts[2], ".json") {
			continue
		}
		caDir, enc := parts[1], strings.TrimSuffix(parts[2], ".json")
		name, err := DecodeName(enc)
		if err != nil {
			continue
		}
		ca := certCA[caDir+"/"+enc]
		if ca == "" && len(hostCAs[caDir]) == 1 {
			for u := range hostCAs[caDir] {
				ca = u
			}
		}
		if ca == "" {
			if !newDirLike(caDir) {
				rep.Unknown = append(rep.Unknown, k)
			}
			continue
		}
		to, err := s.stateKey(ca, name)
		if err != nil || to == k {
			continue
		}
		if err := c.moveKey(ctx, k, to, rep); err != nil {
			return err
		}
	}
	return nil
}

// subdirLister is implemented by a Store that can list the directories
// directly under a key prefix without listing every key below them: Dir.
type subdirLister interface {
	// subdirs returns the names of the directories directly under dir
	// (a key prefix without its trailing slash), none if dir is missing.
	subdirs(ctx context.Context, dir string) ([]string, error)
}

// legacyPrefixes returns the prefixes under area (certificates, accounts,
// manager) that migrate looks through: in a store that can list
// directories, only those of the CA directories an older version named
// (newDirLike tells this version's, which hold nothing to move), so that
// the first write of a process does not list every file of a large store;
// in others, area/ whole.
func (c *Certs) legacyPrefixes(ctx context.Context, area string) ([]string, error) {
	sl, ok := c.Store.(subdirLister)
	if !ok {
		return []string{area + "/"}, nil
	}
	names, err := sl.subdirs(ctx, area)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if !newDirLike(n) {
			out = append(out, area+"/"+n+"/")
		}
	}
	return out, nil
}

// newDirLike reports whether caDir can only be a CADirName of this
// version (one with a path or a hash), never a host and port.
func newDirLike(caDir string) bool {
	return strings.ContainsAny(caDir, "_+")
}

// group is the keys of one certificate or account directory.
type group struct {
	dir  string
	keys []string
}

// groups returns the keys under prefix grouped by their first depth
// components.
func (c *Certs) groups(ctx context.Context, prefix string, depth int) ([]group, error) {
	ks, err := c.Store.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var out []group
	for _, k := range ks {
		parts := strings.SplitN(k, "/", depth+1)
		if len(parts) <= depth {
			continue
		}
		dir := strings.Join(parts[:depth], "/")
		if n := len(out); n > 0 && out[n-1].dir == dir {
			out[n-1].keys = append(out[n-1].keys, k)
			continue
		}
		out = append(out, group{dir: dir, keys: []string{k}})
	}
	return out, nil
}

// caOf returns the CA URL that a certificate or account directory's
// records name, "" if none does.
func (c *Certs) caOf(ctx context.Context, g group) string {
	var candidates []string
	for _, k := range g.keys {
		switch strings.TrimPrefix(k, g.dir+"/") {
		case metaFile, accountMetaFile, lineageFile:
			candidates = append(candidates, k)
		}
	}
	for _, k := range g.keys { // a versioned directory's newest meta.json
		if path.Base(k) == metaFile && !slices.Contains(candidates, k) {
			candidates = append(candidates, k)
		}
	}
	for _, k := range candidates {
		raw, err := c.Store.Get(ctx, k)
		if err != nil {
			continue
		}
		var m struct {
			CA string `json:"ca"`
		}
		if json.Unmarshal(raw, &m) == nil && m.CA != "" {
			return m.CA
		}
	}
	return ""
}

// moveGroup copies the keys of g under the directory to, then deletes
// them from g.dir. Links (in a Linker store) are made again as links.
func (c *Certs) moveGroup(ctx context.Context, g group, to string, rep *MigrationReport) error {
	l, _ := c.Store.(Linker)
	var files, commits, links []string
	for _, k := range g.keys {
		if l != nil {
			if _, err := l.Readlink(ctx, k); err == nil {
				links = append(links, k)
				continue
			}
		}
		switch strings.TrimPrefix(k, g.dir+"/") {
		case certFile, pointerKey, accountKeyFile:
			commits = append(commits, k)
		default:
			files = append(files, k)
		}
	}
	if l != nil {
		// A live link may be missed by List (it names a directory).
		if _, err := l.Readlink(ctx, g.dir+"/"+liveLink); err == nil {
			links = append([]string{g.dir + "/" + liveLink}, links...)
		}
	}
	dst := func(k string) string { return to + strings.TrimPrefix(k, g.dir) }
	// Every key is checked before anything is written, so that a
	// conflict leaves nothing of g at its new place.
	type copyOp struct {
		key   string
		value []byte
	}
	var copies []copyOp
	conflict := false
	for _, k := range slices.Concat(files, commits) {
		v, err := c.Store.Get(ctx, k)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		have, err := c.Store.Get(ctx, dst(k))
		switch {
		case err == nil && bytes.Equal(have, v):
			continue
		case err == nil:
			rep.Conflicts = append(rep.Conflicts, k)
			conflict = true
			continue
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		copies = append(copies, copyOp{k, v})
	}
	targets := map[string]string{}
	for _, k := range links {
		t, err := l.Readlink(ctx, k)
		if err != nil {
			continue
		}
		have, err := l.Readlink(ctx, dst(k))
		switch {
		case err == nil && have != t, errors.Is(err, ErrNotLink):
			rep.Conflicts = append(rep.Conflicts, k)
			conflict = true
			continue
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return err
		}
		targets[k] = t
	}
	if conflict {
		return nil // leave g whole where it is
	}
	for _, op := range copies {
		if err := c.Store.Put(ctx, dst(op.key), op.value); err != nil {
			return err
		}
	}
	for _, k := range links {
		t, ok := targets[k]
		if !ok {
			continue
		}
		if err := l.Symlink(ctx, dst(k), t); err != nil {
			return err
		}
	}
	// Everything is in its new place: delete the old, what makes it
	// visible first and what names its CA last.
	last := func(k string) int {
		switch strings.TrimPrefix(k, g.dir+"/") {
		case liveLink, pointerKey, certFile, accountKeyFile:
			return 0
		case metaFile, accountMetaFile:
			return 3
		case keyFile:
			return 2
		}
		return 1
	}
	all := slices.Concat(links, files, commits)
	slices.SortStableFunc(all, func(a, b string) int { return last(a) - last(b) })
	for _, k := range all {
		if err := ignoreMissing(c.Store.Delete(ctx, k)); err != nil {
			return err
		}
	}
	if d, ok := c.Store.(*Dir); ok {
		d.removeEmptyDirs(g.dir)
		d.removeEmptyDirs(path.Dir(g.dir))
	}
	rep.Moved = append(rep.Moved, Move{From: g.dir, To: to})
	return nil
}

// moveKey moves one value from k to to, unless to holds another value.
func (c *Certs) moveKey(ctx context.Context, k, to string, rep *MigrationReport) error {
	v, err := c.Store.Get(ctx, k)
	if err != nil {
		return ignoreMissing(err)
	}
	have, err := c.Store.Get(ctx, to)
	switch {
	case err == nil && !bytes.Equal(have, v):
		rep.Conflicts = append(rep.Conflicts, k)
		return nil
	case err == nil:
	case !errors.Is(err, fs.ErrNotExist):
		return err
	default:
		if err := c.Store.Put(ctx, to, v); err != nil {
			return err
		}
	}
	if err := ignoreMissing(c.Store.Delete(ctx, k)); err != nil {
		return err
	}
	if d, ok := c.Store.(*Dir); ok {
		d.removeEmptyDirs(path.Dir(k))
	}
	rep.Moved = append(rep.Moved, Move{From: k, To: to})
	return nil
}

// migrate moves the shared layout's renewal state from
// manager/<ca dir>/<name>.json, beside the "<name>.pem" files, to
// certkeeper/manager/<name>.json.
func (s sharedScheme) migrate(ctx context.Context, rep *MigrationReport) error {
	c := s.c
	ks, err := c.Store.List(ctx, legacyStateDir+"/")
	if err != nil {
		return err
	}
	for _, k := range ks {
		parts := strings.Split(k, "/")
		if len(parts) != 3 || !strings.HasSuffix(parts[2], ".json") {
			continue
		}
		name, err := DecodeName(strings.TrimSuffix(parts[2], ".json"))
		if err != nil {
			continue
		}
		to, err := s.stateKey("", name)
		if err != nil {
			continue
		}
		if err := c.moveKey(ctx, k, to, rep); err != nil {
			return err
		}
	}
	return nil
}
