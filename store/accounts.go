package store

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/certkeeper/certkeeper/keys"
)

// accountMeta is account.json.
type accountMeta struct {
	CA      string   `json:"ca"`
	URL     string   `json:"url,omitempty"`
	Contact []string `json:"contact,omitempty"`
}

// SaveAccount stores rec as account id ("" means "default") at the CA
// with directory URL ca: the key first, then the rest, so a reader that
// finds the account finds its key. In LayoutShared only rec.KeyPEM is
// kept, in client.key, and id must be "" or "default"; a client.key that
// holds the same key already (written by another program, perhaps in
// another PEM encoding) is not rewritten.
func (c *Certs) SaveAccount(ctx context.Context, ca, id string, rec AccountRecord) error {
	if _, err := keys.ParsePEM(rec.KeyPEM); err != nil {
		return fmt.Errorf("store: saving account: %w", err)
	}
	sch := c.scheme()
	if err := sch.checkAccount(ca, id); err != nil {
		return err
	}
	if err := c.migrateOnce(ctx); err != nil {
		return err
	}
	return sch.saveAccount(ctx, ca, id, rec)
}

// lockAccount takes the lock of an account, when the store is one that
// leaves temporary files (a Dir), and removes those of the account's
// files (bases in dir) under it: every key of the account is written
// under this lock, so its holder knows a temporary file of one was left
// by a writer that died. Other stores write without it.
func (c *Certs) lockAccount(ctx context.Context, lock, dir string, bases ...string) (func(), error) {
	tr, ok := c.Store.(tempRemover)
	if !ok {
		return func() {}, nil
	}
	unlock, err := c.Store.Lock(ctx, lock)
	if err != nil {
		return nil, fmt.Errorf("store: locking account %s: %w", lock, err)
	}
	tr.removeTemps(dir, bases...)
	return func() { _ = unlock() }, nil
}

// saveAccount writes the key, then account.json.
func (s standardScheme) saveAccount(ctx context.Context, ca, id string, rec AccountRecord) error {
	c := s.c
	dir, err := s.accountDir(ca, id)
	if err != nil {
		return err
	}
	unlock, err := c.lockAccount(ctx, accountLockPrefix+dir, dir, accountKeyFile, accountMetaFile)
	if err != nil {
		return err
	}
	defer unlock()
	meta, err := json.MarshalIndent(accountMeta{CA: ca, URL: rec.URL, Contact: rec.Contact}, "", "  ")
	if err != nil {
		return err
	}
	if err := c.Store.Put(ctx, dir+"/"+accountKeyFile, rec.KeyPEM); err != nil {
		return err
	}
	return c.Store.Put(ctx, dir+"/"+accountMetaFile, append(meta, '\n'))
}

// saveAccount writes client.key, unless it holds the key already.
func (s sharedScheme) saveAccount(ctx context.Context, _, _ string, rec AccountRecord) error {
	c := s.c
	unlock, err := c.lockAccount(ctx, sharedAccountLock, ".", sharedKey)
	if err != nil {
		return err
	}
	defer unlock()
	if sameKeyPEM(c.getOptional(ctx, sharedKey), rec.KeyPEM) {
		// Another program's file, perhaps in another encoding, that
		// holds this key already: left as it is.
		return nil
	}
	return c.Store.Put(ctx, sharedKey, rec.KeyPEM)
}

// LoadAccount returns account id ("" means "default") at the CA with
// directory URL ca. A missing account gives an error wrapping
// fs.ErrNotExist. An account whose key is intact but whose record is not
// (a truncated account.json) is returned with its key, no URL and
// RecordErr set, not as an error.
func (c *Certs) LoadAccount(ctx context.Context, ca, id string) (AccountRecord, error) {
	return c.scheme().loadAccount(ctx, ca, id)
}

// loadAccount reads client.key, the one account.
func (s sharedScheme) loadAccount(ctx context.Context, ca, id string) (AccountRecord, error) {
	if err := s.checkAccount(ca, id); err != nil {
		return AccountRecord{}, err
	}
	key, err := s.c.Store.Get(ctx, sharedKey)
	if err != nil {
		return AccountRecord{}, err
	}
	return AccountRecord{CA: ca, ID: defaultID, KeyPEM: key}, nil
}

// loadAccount reads the account where CADirName puts it, or where an
// older certkeeper put it.
func (s standardScheme) loadAccount(ctx context.Context, ca, id string) (AccountRecord, error) {
	c := s.c
	dir, err := s.accountDir(ca, id)
	if err != nil {
		return AccountRecord{}, err
	}
	parts := strings.Split(dir, "/")
	rec, err := c.loadAccount(ctx, dir, parts[2])
	if errors.Is(err, fs.ErrNotExist) {
		// Where an older certkeeper kept it, if not yet moved and if it
		// is this CA's and not another's on the same host.
		if old, lerr := legacyCADirName(ca); lerr == nil && old != parts[1] {
			orec, oerr := c.loadAccount(ctx, accountsDir+"/"+old+"/"+parts[2], parts[2])
			if oerr == nil && orec.CA == ca {
				return orec, nil
			}
		}
	}
	if rec.CA == "" {
		rec.CA = ca
	}
	return rec, err
}

// ListAccounts returns the accounts at the CA with directory URL ca, or
// at every CA if ca is "", sorted by key. In LayoutShared it returns the
// one account if client.key exists. Accounts that fail to load are left
// out and their errors joined into the returned error.
func (c *Certs) ListAccounts(ctx context.Context, ca string) ([]AccountRecord, error) {
	return c.scheme().listAccounts(ctx, ca)
}

// listAccounts returns the one account, if client.key exists.
func (s sharedScheme) listAccounts(ctx context.Context, ca string) ([]AccountRecord, error) {
	rec, err := s.loadAccount(ctx, ca, "")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []AccountRecord{rec}, nil
}

func (s standardScheme) listAccounts(ctx context.Context, ca string) ([]AccountRecord, error) {
	c := s.c
	prefixes, err := certPrefixes(accountsDir, ca)
	if err != nil {
		return nil, err
	}
	var (
		out  []AccountRecord
		errs []error
	)
	seen := map[[2]string]bool{} // CA, ID
	for i, prefix := range prefixes {
		ks, err := c.Store.List(ctx, prefix)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			parts := strings.Split(k, "/")
			if len(parts) != 4 || parts[3] != accountKeyFile {
				continue
			}
			rec, err := c.loadAccount(ctx, strings.Join(parts[:3], "/"), parts[2])
			if errors.Is(err, fs.ErrNotExist) {
				continue // moved meanwhile
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if i > 0 && rec.CA != ca {
				continue // another directory on the same host
			}
			if id := [2]string{rec.CA, rec.ID}; !seen[id] {
				seen[id] = true
				out = append(out, rec)
			}
		}
	}
	return out, errors.Join(errs...)
}

func (c *Certs) loadAccount(ctx context.Context, dir, id string) (AccountRecord, error) {
	key, err := c.Store.Get(ctx, dir+"/"+accountKeyFile)
	if err != nil {
		return AccountRecord{}, err
	}
	rec := AccountRecord{ID: id, KeyPEM: key}
	raw, err := c.Store.Get(ctx, dir+"/"+accountMetaFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return AccountRecord{}, err
	default:
		var m accountMeta
		if err := json.Unmarshal(raw, &m); err != nil {
			err = fmt.Errorf("store: %s/%s: %w: %w", dir, accountMetaFile, ErrCorrupt, err)
			if _, kerr := keys.ParsePEM(key); kerr != nil {
				// Nothing to go on: neither the record nor the key.
				return AccountRecord{}, errors.Join(err, fmt.Errorf("store: %s/%s: %w", dir, accountKeyFile, kerr))
			}
			// The key is what matters: the CA finds the account by it.
			rec.RecordErr = err
			return rec, nil
		}
		rec.CA, rec.URL, rec.Contact = m.CA, m.URL, m.Contact
	}
	return rec, nil
}

// getOptional returns the value of key, or nil if it cannot be read.
func (c *Certs) getOptional(ctx context.Context, key string) []byte {
	data, err := c.Store.Get(ctx, key)
	if err != nil {
		return nil
	}
	return data
}

// sameKeyPEM reports whether a and b hold the same private key, whatever
// their encodings.
func sameKeyPEM(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	ka, err := keys.ParsePEM(a)
	if err != nil {
		return false
	}
	kb, err := keys.ParsePEM(b)
	if err != nil {
		return false
	}
	pa, ok := ka.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pa.Equal(kb.Public())
}
