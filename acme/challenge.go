package acme

import (
	"context"
	"errors"
	"fmt"
)

// AcceptChallenge tells the CA the challenge is ready to be validated: a
// POST of {} to its URL (RFC 8555 §7.5.1). It returns the challenge as the
// server returned it, with the client-side fields (Identifier, Wildcard,
// KeyAuthorization, AccountURL, IssuerDomainNames) copied from chal.
//
// If the response is lost, the challenge is re-read before re-sending: if
// it is already processing, valid or invalid, the CA has acted and that is
// the result.
//
// An answer (or re-read) whose type, URL or token differs from chal's is
// refused with a *MismatchError: it is not the challenge answered. The
// answer's Retry-After is kept for WaitAuthorization on its authorization
// (the Link rel="up" of the answer) and for WaitOrder while its order is
// pending.
func (c *Client) AcceptChallenge(ctx context.Context, acct Account, chal Challenge) (Challenge, error) {
	if err := checkAccount(acct); err != nil {
		return Challenge{}, err
	}
	if chal.URL == "" {
		return Challenge{}, errors.New("acme: challenge has no URL")
	}
	var reread Challenge
	resp, err := c.post(ctx, request{
		endpoint: "challenge", url: chal.URL, key: acct.Key, kid: acct.URL, payload: []byte("{}"),
		reread: func(ctx context.Context) (bool, error) {
			ch, err := c.GetChallenge(ctx, acct, chal.URL)
			if err != nil {
				return false, err
			}
			if err := checkChallenge(chal, ch); err != nil {
				return false, err
			}
			reread = ch
			switch ch.Status {
			case StatusProcessing, StatusValid, StatusInvalid:
				return true, nil
			}
			return false, nil
		},
	})
	if err != nil {
		return Challenge{}, err
	}
	got := reread
	if resp != nil {
		got, err = parseChallenge(resp.body, chal.URL)
		if err != nil {
			return Challenge{}, err
		}
		got.URL = resolveRef(resp.url, got.URL)
		if err := checkChallenge(chal, got); err != nil {
			return Challenge{}, err
		}
		ra := headerRetryAfter(resp.header, c.clock())
		c.memo.setRetryAfter(chal.URL, ra)
		for _, up := range linkURLs(resp.header, "up", resp.url) {
			c.memo.setRetryAfter(up, ra)
		}
		if err := fillChallenge(&got, acct); err != nil {
			return Challenge{}, err
		}
	}
	// The fields the server does not send.
	got.Identifier = chal.Identifier
	got.Wildcard = chal.Wildcard
	if got.IssuerDomainNames == nil {
		got.IssuerDomainNames = chal.IssuerDomainNames
	}
	return got, nil
}

// GetChallenge fetches a challenge (POST-as-GET) and sets its
// KeyAuthorization and AccountURL from acct. The server does not say which
// identifier a challenge is for; Identifier and Wildcard stay empty (use
// GetAuthorization for those).
func (c *Client) GetChallenge(ctx context.Context, acct Account, url string) (Challenge, error) {
	resp, err := c.postAsGet(ctx, "challenge", acct, url, "", maxJSONBody)
	if err != nil {
		return Challenge{}, err
	}
	ch, err := parseChallenge(resp.body, url)
	if err != nil {
		return Challenge{}, err
	}
	if u := resolveRef(resp.url, ch.URL); u != url {
		return Challenge{}, &MismatchError{Resource: "challenge", URL: url, Field: "url", Want: url, Got: u}
	}
	if err := fillChallenge(&ch, acct); err != nil {
		return Challenge{}, err
	}
	return ch, nil
}

// checkChallenge refuses a challenge the CA returned for chal that is not
// chal: another type, URL or token.
func checkChallenge(chal, got Challenge) error {
	mismatch := func(field, want, got string) error {
		return &MismatchError{Resource: "challenge", URL: chal.URL, Field: field, Want: fmt.Sprintf("%q", want), Got: fmt.Sprintf("%q", got)}
	}
	switch {
	case got.URL != chal.URL:
		return mismatch("url", chal.URL, got.URL)
	case chal.Type != "" && got.Type != chal.Type:
		return mismatch("type", string(chal.Type), string(got.Type))
	case chal.Token != "" && got.Token != chal.Token:
		return mismatch("token", chal.Token, got.Token)
	}
	return nil
}
