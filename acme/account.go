package acme

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
)

// AccountOption is an option of NewAccount. The set is closed: the
// options are the With functions of this package.
type AccountOption interface {
	applyAccount(*accountOptions)
}

type accountOptions struct {
	eabKeyID string
	eabKey   []byte
}

type accountOptionFunc func(*accountOptions)

func (f accountOptionFunc) applyAccount(o *accountOptions) { f(o) }

// WithExternalAccountBinding binds the new account to an account the CA
// knows by other means (RFC 8555 §7.3.4): keyID and hmacKey are the key
// identifier and MAC key the CA provided. The binding is an HS256 JWS over
// the account's public JWK, with url set to the newAccount URL.
func WithExternalAccountBinding(keyID string, hmacKey []byte) AccountOption {
	return accountOptionFunc(func(o *accountOptions) {
		o.eabKeyID = keyID
		o.eabKey = hmacKey
	})
}

// NewAccount registers acct.Key with the CA (RFC 8555 §7.3), sending
// acct.Contact and acct.TermsOfServiceAgreed, and returns the account as
// the server knows it, URL set from the Location header and Key kept. If
// the key is already registered the CA returns the existing account. After
// a lost response the request is simply re-sent, which that makes safe.
func (c *Client) NewAccount(ctx context.Context, acct Account, opts ...AccountOption) (Account, error) {
	var o accountOptions
	for _, opt := range opts {
		opt.applyAccount(&o)
	}
	if acct.Key == nil {
		return Account{}, errors.New("acme: account has no key")
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return Account{}, err
	}
	req := wireAccount{Contact: acct.Contact, TermsOfServiceAgreed: acct.TermsOfServiceAgreed}
	if o.eabKeyID != "" || o.eabKey != nil {
		if o.eabKeyID == "" || len(o.eabKey) == 0 {
			return Account{}, errors.New("acme: external account binding needs a key ID and a MAC key")
		}
		req.ExternalAccountBind, err = externalAccountBinding(o.eabKeyID, o.eabKey, acct.Key.Public(), dir.NewAccount)
		if err != nil {
			return Account{}, err
		}
	}
	return c.newAccount(ctx, dir, acct, req)
}

// LookupAccount finds the account registered for key (RFC 8555 §7.3.1,
// onlyReturnExisting). An unknown key comes back as the CA's
// accountDoesNotExist *Problem; see IsAccountDoesNotExist.
func (c *Client) LookupAccount(ctx context.Context, key crypto.Signer) (Account, error) {
	if key == nil {
		return Account{}, errors.New("acme: account has no key")
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return Account{}, err
	}
	return c.newAccount(ctx, dir, Account{Key: key}, wireAccount{OnlyReturnExisting: true})
}

func (c *Client) newAccount(ctx context.Context, dir Directory, acct Account, req wireAccount) (Account, error) {
	payload, err := json.Marshal(req)
	if err != nil {
		return Account{}, err
	}
	resp, err := c.post(ctx, request{endpoint: "newAccount", url: dir.NewAccount, key: acct.Key, payload: payload})
	if err != nil {
		return Account{}, err
	}
	loc := resp.location()
	if loc == "" {
		return Account{}, fmt.Errorf("acme: newAccount response from %s has no Location", trimURL(dir.NewAccount))
	}
	w, err := parseAccount(resp.body)
	if err != nil {
		return Account{}, err
	}
	acct = w.apply(acct)
	acct.URL = loc
	return acct, nil
}

// GetAccount fetches the account with POST-as-GET (RFC 8555 §6.3, §7.3).
// Servers refuse the older empty-update form (a POST of "{}").
func (c *Client) GetAccount(ctx context.Context, acct Account) (Account, error) {
	if err := checkAccount(acct); err != nil {
		return Account{}, err
	}
	resp, err := c.postAsGet(ctx, "account", acct, acct.URL, "", maxJSONBody)
	if err != nil {
		return Account{}, err
	}
	w, err := parseAccount(resp.body)
	if err != nil {
		return Account{}, err
	}
	return w.apply(acct), nil
}

// UpdateAccount replaces the account's contacts with acct.Contact (RFC 8555
// §7.3.2). An empty list removes them all.
func (c *Client) UpdateAccount(ctx context.Context, acct Account) (Account, error) {
	contact := acct.Contact
	if contact == nil {
		contact = []string{}
	}
	return c.updateAccount(ctx, acct, struct {
		Contact []string `json:"contact"`
	}{contact}, true)
}

// DeactivateAccount deactivates the account for good (RFC 8555 §7.3.6).
func (c *Client) DeactivateAccount(ctx context.Context, acct Account) (Account, error) {
	return c.updateAccount(ctx, acct, struct {
		Status Status `json:"status"`
	}{StatusDeactivated}, true)
}

// updateAccount POSTs body to the account URL. All account updates are
// idempotent: sending the same state twice has the effect of once.
func (c *Client) updateAccount(ctx context.Context, acct Account, body any, idempotent bool) (Account, error) {
	if err := checkAccount(acct); err != nil {
		return Account{}, err
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return Account{}, err
	}
	resp, err := c.post(ctx, request{endpoint: "account", url: acct.URL, key: acct.Key, kid: acct.URL, payload: payload, idempotent: idempotent})
	if err != nil {
		return Account{}, err
	}
	w, err := parseAccount(resp.body)
	if err != nil {
		return Account{}, err
	}
	return w.apply(acct), nil
}

// ChangeKey rolls the account over to newKey (RFC 8555 §7.3.5): the inner
// JWS, signed by newKey with its jwk and no nonce, carries the account URL
// and the old key; the outer one is signed by the old key. It returns acct
// with Key set to newKey. If a response is lost, it looks the account up
// by newKey before re-sending: a match means the change took effect.
func (c *Client) ChangeKey(ctx context.Context, acct Account, newKey crypto.Signer) (Account, error) {
	if err := checkAccount(acct); err != nil {
		return Account{}, err
	}
	if newKey == nil {
		return Account{}, errors.New("acme: no new key")
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return Account{}, err
	}
	if dir.KeyChange == "" {
		return Account{}, errors.New("acme: CA does not support key change")
	}
	oldJWK, err := publicJWK(acct.Key.Public())
	if err != nil {
		return Account{}, err
	}
	inner, err := json.Marshal(struct {
		Account string          `json:"account"`
		OldKey  json.RawMessage `json:"oldKey"`
	}{acct.URL, oldJWK})
	if err != nil {
		return Account{}, err
	}
	innerJWS, err := signJWS(jwsParams{key: newKey, url: dir.KeyChange}, inner)
	if err != nil {
		return Account{}, err
	}
	reread := func(ctx context.Context) (bool, error) {
		got, err := c.LookupAccount(ctx, newKey)
		if err == nil && got.URL == acct.URL {
			return true, nil
		}
		if err != nil && !IsAccountDoesNotExist(err) {
			return false, err
		}
		return false, nil
	}
	resp, err := c.post(ctx, request{endpoint: "keyChange", url: dir.KeyChange, key: acct.Key, kid: acct.URL, payload: innerJWS, reread: reread})
	if err != nil {
		return Account{}, err
	}
	acct.Key = newKey
	if resp != nil && len(resp.body) > 0 {
		if w, err := parseAccount(resp.body); err == nil && w.Status != "" {
			acct = w.apply(acct)
		}
	}
	return acct, nil
}
