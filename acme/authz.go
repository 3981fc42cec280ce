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
// pending, or ctx is done, honouring Retry-After like WaitOrder. A valid
// authorization returns nil. An invalid one returns the authorization and
// its failed challenge's *Problem (or a plain error when the CA gave
// none); expired, revoked or deactivated ones return an error too. On
// other errors it returns the last authorization it saw (zero if none).
func (c *Client) WaitAuthorization(ctx context.Context, acct Account, url string) (Authorization, error) {
	var last Authorization
	said := c.newPollLog("authorization", url)
	for n := 0; ; n++ {
		a, err := c.GetAuthorization(ctx, acct, url)
		if err != nil {
			return last, err
		}
		last = a
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
		if err := sleep(ctx, d); err != nil {
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
