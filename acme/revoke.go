package acme

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
)

// RevokeCertificate revokes a certificate (DER) with the account that
// ordered it, or one authorized for all its names (RFC 8555 §7.6). Reason
// 0 (unspecified) is not sent, which means the same.
//
// If a response is lost the request is re-sent; an alreadyRevoked answer
// to the re-sent request then counts as success.
func (c *Client) RevokeCertificate(ctx context.Context, acct Account, certDER []byte, reason RevocationReason) error {
	if err := checkAccount(acct); err != nil {
		return err
	}
	return c.revoke(ctx, acct.Key, acct.URL, certDER, reason)
}

// RevokeCertificateWithKey revokes a certificate with a request signed by
// the certificate's own key, with the jwk embedded (RFC 8555 §7.6): no
// account needed, as after a key compromise.
func (c *Client) RevokeCertificateWithKey(ctx context.Context, certKey crypto.Signer, certDER []byte, reason RevocationReason) error {
	if certKey == nil {
		return errors.New("acme: no certificate key")
	}
	return c.revoke(ctx, certKey, "", certDER, reason)
}

func (c *Client) revoke(ctx context.Context, key crypto.Signer, kid string, certDER []byte, reason RevocationReason) error {
	if len(certDER) == 0 {
		return errors.New("acme: empty certificate")
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return err
	}
	if dir.RevokeCert == "" {
		return errors.New("acme: directory has no revokeCert URL")
	}
	payload, err := json.Marshal(struct {
		Certificate string `json:"certificate"`
		Reason      int    `json:"reason,omitempty"`
	}{base64.RawURLEncoding.EncodeToString(certDER), int(reason)})
	if err != nil {
		return err
	}
	lost := false
	_, err = c.post(ctx, request{
		endpoint: "revokeCert", url: dir.RevokeCert, key: key, kid: kid, payload: payload,
		reread: func(context.Context) (bool, error) {
			lost = true // no way to read revocation state: re-send
			return false, nil
		},
	})
	if err != nil && lost && hasProblem(err, isType(ProblemAlreadyRevoked)) {
		return nil
	}
	return err
}
