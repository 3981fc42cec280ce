package acme

import (
	"context"
	"encoding/json"
	"fmt"
)

// GetAuthorization fetches an authorization (POST-as-GET, RFC 8555 §7.5)
// and fills in each challenge's client-side fields: Identifier, Wildcard,
// KeyAuthorization (from acct.Key), AccountURL, and for dns-persist-01 the
// IssuerDomainNames the CA offers.
//
// An authorization listed by an order this Client has seen must be for one
// of that order's identifiers, and each of its challenges must have a type
// and a URL; otherwise GetAuthorization returns a *MismatchError (or
// another error naming the fault) and nothing of the authorization.
func (c *Client) GetAuthorization(ctx context.Context, acct Account, url string) (Authorization, error) {
	resp, err := c.postAsGet(ctx, "authz", acct, url, "", maxJSONBody)
	if err != nil {
		return Authorization{}, err
	}
	return c.authorizationResponse(resp, acct, url)
}

func (c *Client) authorizationResponse(resp *response, acct Account, url string) (Authorization, error) {
	a, err := parseAuthorization(resp.body, url)
	if err != nil {
		return Authorization{}, err
	}
	a.RetryAfter = headerRetryAfter(resp.header, c.clock())
	if err := c.checkAuthorization(a); err != nil {
		return Authorization{}, err
	}
	c.memo.setRetryAfter(url, a.RetryAfter)
	for i := range a.Challenges {
		ch := &a.Challenges[i]
		ch.Identifier = a.Identifier
		ch.Wildcard = a.Wildcard
		if err := fillChallenge(ch, acct); err != nil {
			return Authorization{}, err
		}
	}
	return a, nil
}

// checkAuthorization refuses an authorization for an identifier that its
// order (as this Client saw it) does not have, or with a challenge that
// has no type or URL.
func (c *Client) checkAuthorization(a Authorization) error {
	if a.Identifier.Type == "" || a.Identifier.Value == "" {
		return fmt.Errorf("acme: authorization %s has no identifier", trimURL(a.URL))
	}
	if ids, ok := c.memo.authzIdentifiers(a.URL); ok && !authzCovers(ids, a.Identifier, a.Wildcard) {
		got := identifiersText([]Identifier{a.Identifier})
		if a.Wildcard {
			got += " (wildcard)"
		}
		return &MismatchError{Resource: "authorization", URL: a.URL, Field: "identifier",
			Want: "one of its order's " + identifiersText(ids), Got: got}
	}
	for _, ch := range a.Challenges {
		if ch.Type == "" || ch.URL == "" {
			return fmt.Errorf("acme: authorization %s has a challenge without type or URL", trimURL(a.URL))
		}
	}
	return nil
}

// fillChallenge sets the fields derived from the account.
func fillChallenge(ch *Challenge, acct Account) error {
	ch.AccountURL = acct.URL
	if ch.Token == "" {
		return nil
	}
	ka, err := KeyAuthorization(ch.Token, acct.Key.Public())
	if err != nil {
		return err
	}
	ch.KeyAuthorization = ka
	return nil
}

// WaitAuthorization polls the authorization until it is no longer
// pending, or ctx is done, honouring Retry-After like WaitOrder (the
// first poll waits for the Retry-After of AcceptChallenge's answer for
// one of its challenges, if later than now). A valid authorization
// returns nil. An invalid one returns the authorization and its failed
// challenge's *Problem (or a plain error when the CA gave none); expired,
// revoked or deactivated ones return an error too. Deadlines end the wait
// with a *WaitError, as in WaitOrder. On other errors it returns the last
// authorization it saw (zero if none).
func (c *Client) WaitAuthorization(ctx context.Context, acct Account, url string) (Authorization, error) {
	var last Authorization
	w := c.newPoller("authorization", url)
	said := w.said
	if ra := c.memo.retryAfterOf(url); ra.After(c.clock()) {
		if err := w.wait(ctx, ra.Sub(c.clock()), ra); err != nil {
			return last, err
		}
	}
	for n := 0; ; n++ {
		a, err := c.GetAuthorization(ctx, acct, url)
		w.polls++
		if err != nil {
			return last, w.failed(ctx, err)
		}
		last = a
		w.status = string(a.Status)
		switch a.Status {
		case StatusPending:
		case StatusValid:
			return a, nil
		case StatusInvalid:
			for _, ch := range a.Challenges {
				if ch.Error != nil {
					return a, ch.Error
				}
			}
			return a, fmt.Errorf("acme: authorization for %s is invalid (the CA gave no challenge error)", authorizationName(a))
		default:
			return a, fmt.Errorf("acme: authorization for %s is %s", authorizationName(a), a.Status)
		}
		d := c.pollWait(n, a.RetryAfter)
		c.logPoll(ctx, said, n, authorizationName(a), a.Status, d, a.RetryAfter)
		if err := w.wait(ctx, d, a.RetryAfter); err != nil {
			return a, err
		}
	}
}

// DeactivateAuthorization gives up an authorization (RFC 8555 §7.5.2).
// Sending it twice has the effect of once.
func (c *Client) DeactivateAuthorization(ctx context.Context, acct Account, url string) (Authorization, error) {
	if err := checkAccount(acct); err != nil {
		return Authorization{}, err
	}
	payload, _ := json.Marshal(struct {
		Status Status `json:"status"`
	}{StatusDeactivated})
	resp, err := c.post(ctx, request{endpoint: "authz", url: url, key: acct.Key, kid: acct.URL, payload: payload, idempotent: true})
	if err != nil {
		return Authorization{}, err
	}
	return c.authorizationResponse(resp, acct, url)
}
