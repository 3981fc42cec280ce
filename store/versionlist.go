package store

import (
	"context"
	"slices"
	"strings"
)

// versionSet is what a certificate's versions/ directory holds, as one
// listing tells it.
type versionSet struct {
	// ids are the whole versions (their cert.pem there), ascending.
	ids []int
	// used holds the version numbers under which a writer that died may
	// have left files: those with any file (listed with List), or a
	// directory (a versionLister's listing, which does not read the
	// versions' directories).
	used map[int]bool
	// slots is a versionLister's listing, nil from List. It tells which
	// numbers are symbolic links (see currentForSave, writeVersion) and
	// the size of each version's chain (see writtenVersion).
	slots map[int]versionSlot
}

// isLink reports whether the listing says that versions/<n> is a
// symbolic link, and whether it knows (a versionLister's listing does).
func (vs *versionSet) isLink(n int) (link, known bool) {
	if vs == nil || vs.slots == nil {
		return false, false
	}
	return vs.slots[n].link, true
}

// chainSize returns the size in bytes of version n's cert.pem, if the
// listing knows it.
func (vs *versionSet) chainSize(n int) (int64, bool) {
	if vs == nil || vs.slots == nil || !vs.slots[n].chain {
		return 0, false
	}
	return vs.slots[n].size, true
}

// versionIDs returns the versions stored in dir, ascending.
func (c *Certs) versionIDs(ctx context.Context, dir string) ([]int, error) {
	vs, err := c.versionListing(ctx, dir)
	return vs.ids, err
}

// versionListing lists the versions of the certificate in dir: with one
// read of versions/ and a look at each version's cert.pem in a
// versionLister store (Dir), else with List.
func (c *Certs) versionListing(ctx context.Context, dir string) (versionSet, error) {
	if vl, ok := c.Store.(versionLister); ok {
		slots, err := vl.listVersions(ctx, dir)
		if err != nil {
			return versionSet{}, err
		}
		vs := versionSet{used: map[int]bool{}, slots: slots}
		for n, s := range slots {
			if s.dir {
				vs.used[n] = true
			}
			if s.chain {
				vs.ids = append(vs.ids, n)
			}
		}
		slices.Sort(vs.ids)
		return vs, nil
	}
	ks, err := c.Store.List(ctx, dir+"/"+versionsDir+"/")
	if err != nil {
		return versionSet{}, err
	}
	vs := versionSet{used: map[int]bool{}}
	for _, k := range ks {
		rest := strings.TrimPrefix(k, dir+"/"+versionsDir+"/")
		v, file, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		n, ok := parseVersion(v)
		if !ok {
			continue
		}
		vs.used[n] = true
		if file == certFile {
			vs.ids = append(vs.ids, n)
		}
	}
	slices.Sort(vs.ids)
	vs.ids = slices.Compact(vs.ids)
	return vs, nil
}
