package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// An account deactivated at the CA (RFC 8555 §7.3.6) can never be used
// again, not even registered again with its key. The engine records the
// deactivation in the store, next to the account: the URL of the account
// deactivated on the first line, and "key " and the JWK thumbprint (RFC
// 7638) of its key on the second. A stored account whose URL, or whose
// key, is recorded as deactivated is never used, and the next Account (an
// order) registers a new one, with a new key, under the same ID. The key
// is what tells in the shared layout, whose client.key is stored without
// a URL; records of earlier versions hold the URL only. The record needs
// no clean-up: the new account has another URL and another key.

// AccountInfo describes an account the store holds.
type AccountInfo struct {
	// CA is the directory URL, ID the account's name in the store.
	CA string
	ID string
	// URL is the account URL; "" when the store has only its key (the
	// shared layout, or a registration cut short).
	URL     string
	Contact []string
	// Deactivated reports whether it was deactivated (DeactivateAccount).
	Deactivated bool
	// RecordErr is store.AccountRecord.RecordErr: why its record could
	// not be read although its key could.
	RecordErr error
}

// isDeactivated reports whether the store records the account rec (at
// ca) as deactivated: its URL, or its key's thumbprint.
func (e *Engine) isDeactivated(ctx context.Context, ca string, rec store.AccountRecord) bool {
	k, err := e.certs.AccountDeactivatedKey(ca, rec.ID)
	if err != nil {
		return false
	}
	b, err := e.cfg.Store.Get(ctx, k)
	if err != nil {
		return false
	}
	url, rest, _ := strings.Cut(string(b), "\n")
	if url = strings.TrimSpace(url); url != "" && url == rec.URL {
		return true
	}
	tp, ok := strings.CutPrefix(strings.TrimSpace(rest), "key ")
	return ok && tp != "" && tp == keyThumbprint(rec.KeyPEM)
}

// keyThumbprint is the JWK thumbprint (RFC 7638) of the PEM key, "" if
// it cannot be read.
func keyThumbprint(keyPEM []byte) string {
	if len(keyPEM) == 0 {
		return ""
	}
	key, err := keys.ParsePEM(keyPEM)
	if err != nil {
		return ""
	}
	tp, err := acme.Thumbprint(key.Public())
	if err != nil {
		return ""
	}
	return tp
}

// Accounts lists the accounts the store holds at the CA ca ("" for every
// CA), sorted by CA and ID. Accounts that cannot be read are left out and
// their errors joined into the returned error. It reads the store only.
func (e *Engine) Accounts(ctx context.Context, ca string) ([]AccountInfo, error) {
	recs, err := e.certs.ListAccounts(ctx, ca)
	out := make([]AccountInfo, 0, len(recs))
	for _, r := range recs {
		out = append(out, AccountInfo{
			CA: r.CA, ID: r.ID, URL: r.URL, Contact: r.Contact, RecordErr: r.RecordErr,
			Deactivated: e.isDeactivated(ctx, r.CA, r),
		})
	}
	return out, err
}

// ErrAccountDeactivated says that the stored account was deactivated:
// DeactivateAccount and account commands that need a live account return
// errors wrapping it.
var ErrAccountDeactivated = errors.New("the account was deactivated")

// StoredAccount returns the account opts name at ca as the store holds
// it, without registering anything or asking the CA, unless the store
// has only its key (then the CA is asked for the account by its key). An
// account that is not stored gives an error wrapping fs.ErrNotExist, a
// deactivated one an error wrapping ErrAccountDeactivated.
func (e *Engine) StoredAccount(ctx context.Context, ca, caRoot string, opts AccountOptions) (acme.Account, error) {
	opts = e.accountOptions(opts)
	id := opts.id()
	rec, err := e.certs.LoadAccount(ctx, ca, id)
	if err != nil {
		return acme.Account{}, err
	}
	if rec.ID == "" {
		rec.ID = id
	}
	if e.isDeactivated(ctx, ca, rec) {
		return acme.Account{}, fmt.Errorf("account %s (%s) at %s: %w", id, rec.URL, ca, ErrAccountDeactivated)
	}
	key, err := keys.ParsePEM(rec.KeyPEM)
	if err != nil {
		return acme.Account{}, fmt.Errorf("engine: the stored key of account %q at %s: %w", id, ca, err)
	}
	if rec.URL == "" {
		cl, err := e.Client(ca, caRoot)
		if err != nil {
			return acme.Account{}, err
		}
		acct, err := cl.LookupAccount(ctx, key)
		if err != nil {
			return acme.Account{}, err
		}
		acct.Key = key
		return acct, nil
	}
	return acme.Account{Key: key, URL: rec.URL, Contact: rec.Contact, Status: acme.StatusValid}, nil
}

// DeactivateAccount deactivates the stored account opts name at ca (RFC
// 8555 §7.3.6) and records it in the store as deactivated, so that the
// next order registers a new account under the same ID. It registers
// nothing: an account the store does not have is an error wrapping
// fs.ErrNotExist.
func (e *Engine) DeactivateAccount(ctx context.Context, ca, caRoot string, opts AccountOptions) (acme.Account, error) {
	opts = e.accountOptions(opts)
	acct, err := e.StoredAccount(ctx, ca, caRoot, opts)
	if err != nil {
		return acme.Account{}, err
	}
	cl, err := e.Client(ca, caRoot)
	if err != nil {
		return acme.Account{}, err
	}
	done, err := cl.DeactivateAccount(ctx, acct)
	if err != nil {
		return acme.Account{}, err
	}
	if done.URL == "" {
		done.URL = acct.URL
	}
	k, err := e.certs.AccountDeactivatedKey(ca, opts.id())
	if err != nil {
		return done, err
	}
	record := acct.URL + "\n"
	if tp, err := acme.Thumbprint(acct.Key.Public()); err == nil {
		record += "key " + tp + "\n"
	}
	if err := e.cfg.Store.Put(ctx, k, []byte(record)); err != nil {
		return done, fmt.Errorf("engine: the CA deactivated account %s, but the store could not record it (the next order fails until it registers a new one): %w", acct.URL, err)
	}
	e.log.InfoContext(ctx, "account deactivated", "ca", ca, "account", opts.id(), "url", acct.URL)
	// The account loaded for orders is not used again.
	e.mu.Lock()
	s := e.accounts[accountKey{ca, caRoot, opts.id()}]
	e.mu.Unlock()
	if s != nil {
		s.mu.Lock()
		s.acct = nil
		s.mu.Unlock()
	}
	return done, nil
}
