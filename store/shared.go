package store

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// DetectLayout tells the layout of an existing store: LayoutShared when it
// holds the shared layout's account key ("client.key" at its top) or the
// records Certs keeps in that layout under "certkeeper/" (lineage
// records, renewal states, versions; such as an obtain leaves whose
// account could not be registered, with no client.key yet), else
// LayoutStandard, which writes nothing there. A store in the shared layout
// with neither (only "<name>.pem" files) is not recognised: name its
// layout.
func DetectLayout(ctx context.Context, s Store) (Layout, error) {
	_, err := s.Stat(ctx, sharedKey)
	switch {
	case err == nil:
		return LayoutShared, nil
	case !errors.Is(err, fs.ErrNotExist):
		return LayoutStandard, err
	}
	for _, dir := range []string{sharedLineageDir, stateRoot + "/" + legacyStateDir, stateRoot + "/" + versionsDir} {
		ks, err := s.List(ctx, dir+"/")
		if err != nil {
			return LayoutStandard, err
		}
		if len(ks) > 0 {
			return LayoutShared, nil
		}
	}
	return LayoutStandard, nil
}

// ErrOtherLayout is wrapped by CheckLayout's error: the store already
// holds the records of the other layout.
var ErrOtherLayout = errors.New("the store is in the other layout")

// CheckLayout reports whether the store s may be used in layout l, as a
// command that names its layout (-layout) is about to: an error wrapping
// ErrOtherLayout when s already holds the other layout's records, those
// of the standard layout ("accounts/", "certificates/") for LayoutShared,
// those DetectLayout takes for the shared layout ("client.key",
// "certkeeper/") for LayoutStandard. Writing one layout into a store of
// the other would hide its certificates from every later command, which
// reads the store in the layout it detects. An empty store, or one of
// "<name>.pem" files only, fits either. Other errors are the store's.
func CheckLayout(ctx context.Context, s Store, l Layout) error {
	if l == LayoutStandard {
		got, err := DetectLayout(ctx, s)
		if err != nil {
			return err
		}
		if got == LayoutShared {
			return fmt.Errorf("%w: shared (it holds %s or %s/ records)", ErrOtherLayout, sharedKey, stateRoot)
		}
		return nil
	}
	for _, dir := range []string{accountsDir, certsDir} {
		ks, err := s.List(ctx, dir+"/")
		if err != nil {
			return err
		}
		if len(ks) > 0 {
			return fmt.Errorf("%w: standard (it holds %s/)", ErrOtherLayout, dir)
		}
	}
	return nil
}

func (s sharedScheme) saveCertificate(ctx context.Context, res CertRecord, _ *x509.Certificate) error {
	return s.c.saveShared(ctx, res)
}

func (s sharedScheme) loadCertificate(ctx context.Context, _, name string) (CertRecord, error) {
	k, err := sharedCertKey(name)
	if err != nil {
		return CertRecord{}, err
	}
	return s.c.loadShared(ctx, k)
}

// listCertificates lists the "<name>.pem" files (of every CA: the store
// has one).
func (s sharedScheme) listCertificates(ctx context.Context, _ string) ([]CertRecord, error) {
	ks, err := s.c.Store.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var (
		out  []CertRecord
		errs []error
	)
	for _, k := range ks {
		if strings.Contains(k, "/") || !strings.HasSuffix(k, ".pem") {
			continue
		}
		if _, err := DecodeName(strings.TrimSuffix(k, ".pem")); err != nil {
			continue // not ours
		}
		res, err := s.c.loadShared(ctx, k)
		if err != nil {
			errs = append(errs, &CertificateError{Key: k, Err: err})
			continue
		}
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// deleteCertificate removes "<name>.pem"; its versions and records are
// kept.
func (s sharedScheme) deleteCertificate(ctx context.Context, _, name string) error {
	k, err := sharedCertKey(name)
	if err != nil {
		return err
	}
	return s.c.Store.Delete(ctx, k)
}

func (s sharedScheme) versions(ctx context.Context, _, name string) ([]Version, error) {
	return s.c.sharedVersions(ctx, name)
}

func (s sharedScheme) restore(ctx context.Context, _, name string, id int) error {
	return s.c.restoreShared(ctx, name, id)
}

// saveShared writes res as "<name>.pem", one atomic Put, after keeping it
// as a version; what was there before, if no version holds it (another
// program wrote it), is kept as a version first. A certificate stored
// already is not kept twice (sharedWritten).
func (c *Certs) saveShared(ctx context.Context, res CertRecord) error {
	k, err := sharedCertKey(res.Name)
	if err != nil {
		return err
	}
	enc := strings.TrimSuffix(k, ".pem")
	unlock, err := c.lockEntry(ctx, sharedEntry, enc)
	if err != nil {
		return err
	}
	defer unlock()
	data := combine(res.KeyPEM, res.ChainPEM)
	ids, err := c.sharedVersionIDs(ctx, enc)
	if err != nil {
		return err
	}
	next := 1
	if len(ids) > 0 {
		next = ids[len(ids)-1] + 1
	}
	old, err := c.Store.Get(ctx, k)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(bytes.TrimSpace(old)) > 0 {
		known := false
		for _, id := range ids {
			v, err := c.Store.Get(ctx, sharedVersionKey(enc, id))
			if err == nil && bytes.Equal(v, old) {
				known = true
				break
			}
		}
		if !known {
			if err := c.Store.Put(ctx, sharedVersionKey(enc, next), old); err != nil {
				return err
			}
			next++
		}
	}
	switch n, err := c.sharedWritten(ctx, enc, ids, old, data); {
	case err != nil:
		return err
	case n < 0:
		return nil // current already
	case n > 0:
		next = n
	default:
		if err := c.Store.Put(ctx, sharedVersionKey(enc, next), data); err != nil {
			return err
		}
	}
	if err := c.Store.Put(ctx, k, data); err != nil {
		return err
	}
	ids, err = c.sharedVersionIDs(ctx, enc)
	if err != nil {
		return err
	}
	kept := 0
	for i := len(ids) - 1; i >= 0; i-- {
		if ids[i] == next {
			continue
		}
		if kept < c.keep() {
			kept++
			continue
		}
		if err := ignoreMissing(c.Store.Delete(ctx, sharedVersionKey(enc, ids[i]))); err != nil {
			return err
		}
	}
	return nil
}

// sharedVersionIDs returns the versions kept of enc, ascending.
func (c *Certs) sharedVersionIDs(ctx context.Context, enc string) ([]int, error) {
	vdir := sharedVersionsDir(enc) + "/"
	ks, err := c.Store.List(ctx, vdir)
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, k := range ks {
		if n, ok := parseVersion(strings.TrimSuffix(strings.TrimPrefix(k, vdir), ".pem")); ok && strings.HasSuffix(k, ".pem") {
			ids = append(ids, n)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// sharedVersions is Versions in LayoutShared.
func (c *Certs) sharedVersions(ctx context.Context, name string) ([]Version, error) {
	k, err := sharedCertKey(name)
	if err != nil {
		return nil, err
	}
	enc := strings.TrimSuffix(k, ".pem")
	top, err := c.Store.Get(ctx, k)
	if err != nil {
		return nil, err
	}
	ids, err := c.sharedVersionIDs(ctx, enc)
	if err != nil {
		return nil, err
	}
	var out []Version
	for _, id := range ids {
		data, err := c.Store.Get(ctx, sharedVersionKey(enc, id))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		cur := bytes.Equal(data, top)
		res, err := c.sharedRecord(ctx, enc, data)
		if err != nil {
			out = append(out, Version{ID: id, Current: cur, Err: err})
			continue
		}
		out = append(out, describe(id, cur, res))
	}
	return out, nil
}

// restoreShared is Restore in LayoutShared: version id is written over
// "<name>.pem".
func (c *Certs) restoreShared(ctx context.Context, name string, id int) error {
	k, err := sharedCertKey(name)
	if err != nil {
		return err
	}
	enc := strings.TrimSuffix(k, ".pem")
	unlock, err := c.lockEntry(ctx, sharedEntry, enc)
	if err != nil {
		return err
	}
	defer unlock()
	data, err := c.Store.Get(ctx, sharedVersionKey(enc, id))
	if err != nil {
		return fmt.Errorf("store: restore %s version %d: %w", name, id, err)
	}
	if _, err := c.sharedRecord(ctx, enc, data); err != nil {
		return fmt.Errorf("store: restore %s version %d: %w", name, id, err)
	}
	return c.Store.Put(ctx, k, data)
}

func (c *Certs) loadShared(ctx context.Context, k string) (CertRecord, error) {
	enc := strings.TrimSuffix(k, ".pem")
	data, err := c.Store.Get(ctx, k)
	if err != nil {
		return CertRecord{}, err
	}
	res, err := c.sharedRecord(ctx, enc, data)
	if err != nil {
		return CertRecord{}, fmt.Errorf("store: %s: %w", k, err)
	}
	if info, err := c.Store.Stat(ctx, k); err == nil {
		res.ObtainedAt = info.Modified
	}
	return res, nil
}

// sharedRecord parses the contents of a "<name>.pem" (or of one of its
// versions): a private key and a chain in any order. Empty contents are a
// placeholder, a CertRecord with no chain.
func (c *Certs) sharedRecord(ctx context.Context, enc string, data []byte) (CertRecord, error) {
	name, err := DecodeName(enc)
	if err != nil {
		return CertRecord{}, err
	}
	res := CertRecord{Name: name}
	if len(bytes.TrimSpace(data)) == 0 {
		return res, nil // a placeholder: please issue
	}
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			res.ChainPEM = append(res.ChainPEM, pem.EncodeToMemory(b)...)
		case strings.HasSuffix(b.Type, "PRIVATE KEY") && res.KeyPEM == nil:
			res.KeyPEM = pem.EncodeToMemory(b)
		}
	}
	key, certs, err := checkPair(res.KeyPEM, res.ChainPEM)
	if err != nil {
		return CertRecord{}, err
	}
	res.Identifiers, res.Key, res.Certificates = leafIdentifiers(certs[0]), key, certs
	if res.Revoked, err = c.loadRevocation(ctx, sharedRevokedDir(enc), certs[0]); err != nil {
		return CertRecord{}, err
	}
	return res, nil
}
