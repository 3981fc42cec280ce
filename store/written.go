package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"slices"
)

// reuseWritten saves a certificate that a version of dir holds already
// (see writtenVersion) without writing it again: it switches to that
// version if it is not the current one cur, then prunes, and returns
// that version's number; it returns 0 if no version holds it, for the
// caller to write a new one. foreign says that the live link is not the store's (see
// currentForSave): cur is 0 and the top of dir is no certificate of the
// unversioned layout. vs is the caller's listing of the versions, made
// under the certificate's lock.
func (c *Certs) reuseWritten(ctx context.Context, dir string, cur int, foreign bool, vs *versionSet, res CertRecord, meta []byte) (int, error) {
	n, err := c.writtenVersion(ctx, dir, cur, foreign, vs, res.KeyPEM, res.ChainPEM, meta)
	if err != nil || n == 0 {
		return 0, err
	}
	if n == cur {
		return n, nil
	}
	if err := c.switchTo(ctx, dir, n, cur == 0, nil); err != nil {
		return n, err
	}
	return n, c.prune(ctx, dir, n)
}

// writtenVersion returns the version of the certificate in dir that holds
// exactly keyPEM and chainPEM (byte for byte, key and chain) with the same
// description in meta (meta.json: names, CA, URL, profile; the time it
// was obtained aside), looking at the current version cur and at the
// versions above it, newest first; 0 if none does. vs lists the versions
// stored; foreign is as for reuseWritten. A version whose chain the
// listing gives a size other than chainPEM's (a versionLister's, which
// looked at each cert.pem) is not read: it holds another chain.
//
// A version above the current one (or any version, when none is current
// and no certificate of the unversioned layout is there: a first save)
// is one written whole and never made current: its writer was killed
// between writing it and switching the pointer (or a Restore went back
// past it). Saving the same certificate
// again, as the next attempt does when it resumes the order that gave it
// (the CA hands out the same certificate), then switches to that version
// rather than write a second copy of it; saving the current certificate
// again writes nothing. Versions below the current one are not read: a
// save in the usual case (the newest version current) reads one file
// more than before, the current chain, when it is as long as the new one.
func (c *Certs) writtenVersion(ctx context.Context, dir string, cur int, foreign bool, vs *versionSet, keyPEM, chainPEM, meta []byte) (int, error) {
	if cur == 0 && !foreign {
		// No version current: a first save, or a certificate of the
		// unversioned layout, which the caller imports first.
		switch _, err := c.Store.Stat(ctx, dir+"/"+certFile); {
		case err == nil:
			return 0, nil
		case !errors.Is(err, fs.ErrNotExist):
			return 0, err
		}
	}
	ids := vs.ids
	for i := len(ids) - 1; i >= 0 && ids[i] >= cur; i-- {
		if size, ok := vs.chainSize(ids[i]); ok && size != int64(len(chainPEM)) {
			continue
		}
		same, err := c.versionHolds(ctx, versionKey(dir, ids[i]), keyPEM, chainPEM, meta)
		if err != nil {
			return 0, err
		}
		if same {
			return ids[i], nil
		}
	}
	return 0, nil
}

// versionHolds reports whether the version in vdir holds exactly keyPEM
// (none if empty) and chainPEM, described as meta says (see sameMeta). A
// version whose files vanish meanwhile (pruned) holds nothing.
func (c *Certs) versionHolds(ctx context.Context, vdir string, keyPEM, chainPEM, meta []byte) (bool, error) {
	chain, err := c.Store.Get(ctx, vdir+"/"+certFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil || !bytes.Equal(chain, chainPEM) {
		return false, err
	}
	key, err := c.Store.Get(ctx, vdir+"/"+keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = nil, nil
	}
	if err != nil || !bytes.Equal(key, keyPEM) {
		return false, err
	}
	had, err := c.Store.Get(ctx, vdir+"/"+metaFile)
	if errors.Is(err, fs.ErrNotExist) {
		return meta == nil, nil
	}
	if err != nil {
		return false, err
	}
	return sameMeta(had, meta), nil
}

// sameMeta reports whether two meta.json describe the certificate alike:
// the same name, identifiers, CA, certificate URL and profile. The time
// it was obtained may differ: the version written first keeps its own.
func sameMeta(a, b []byte) bool {
	var ma, mb certMeta
	if json.Unmarshal(a, &ma) != nil || json.Unmarshal(b, &mb) != nil {
		return false
	}
	return ma.Name == mb.Name && slices.Equal(ma.Identifiers, mb.Identifiers) &&
		ma.CA == mb.CA && ma.CertURL == mb.CertURL && ma.Profile == mb.Profile
}

// sharedWritten is writtenVersion in LayoutShared, where a save keeps
// data (key and chain in one file) as a version, then writes it as
// "<name>.pem", which held cur: it returns -1 if cur is data already
// (nothing to write), the newest version if it holds data (its writer
// was killed before it wrote "<name>.pem": that version is kept, not a
// second copy), else 0. ids are the versions kept, ascending.
func (c *Certs) sharedWritten(ctx context.Context, enc string, ids []int, cur, data []byte) (int, error) {
	if bytes.Equal(cur, data) {
		return -1, nil
	}
	if len(ids) == 0 {
		return 0, nil
	}
	n := ids[len(ids)-1]
	v, err := c.Store.Get(ctx, sharedVersionKey(enc, n))
	if errors.Is(err, fs.ErrNotExist) || err == nil && !bytes.Equal(v, data) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}
