package acme

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"
)

// defaultRenewalInfoRetry is RenewalInfo.RetryAfter when the response has
// no Retry-After header. RFC 9773 §4.3 asks clients to poll at least
// daily; 6 hours follows the RFC's example and Let's Encrypt's practice.
const defaultRenewalInfoRetry = 6 * time.Hour

// ARICertID returns the RFC 9773 §4.1 certificate identifier:
// base64url(authority key identifier) "." base64url(serial number as DER
// INTEGER content bytes, including a leading zero when the high bit is
// set).
func ARICertID(cert *x509.Certificate) (string, error) {
	if cert == nil {
		return "", errors.New("acme: nil certificate")
	}
	if len(cert.AuthorityKeyId) == 0 {
		return "", errors.New("acme: certificate has no authority key identifier")
	}
	if cert.SerialNumber == nil {
		return "", errors.New("acme: certificate has no serial number")
	}
	der, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		return "", err
	}
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(der, &raw); err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(cert.AuthorityKeyId) + "." + enc.EncodeToString(raw.Bytes), nil
}

// RenewalInfo fetches the CA's suggested renewal window for cert (RFC 9773
// §4.2): an unauthenticated GET of <renewalInfo>/<ARICertID>. RetryAfter
// comes from the Retry-After header; without one it is 6 hours from now.
func (c *Client) RenewalInfo(ctx context.Context, cert *x509.Certificate) (RenewalInfo, error) {
	id, err := ARICertID(cert)
	if err != nil {
		return RenewalInfo{}, err
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return RenewalInfo{}, err
	}
	if dir.RenewalInfo == "" {
		return RenewalInfo{}, errors.New("acme: CA does not offer renewal info (RFC 9773)")
	}
	url := strings.TrimSuffix(dir.RenewalInfo, "/") + "/" + id
	var ri RenewalInfo
	err = c.retry(ctx, op{"renewalInfo", http.MethodGet, url, "", ""}, func() error {
		r, err := c.do(ctx, "renewalInfo", http.MethodGet, url, nil, "application/json", maxJSONBody)
		if err != nil {
			return err
		}
		if !isSuccess(r.status) {
			return c.errorResponse("renewalInfo", url, r)
		}
		ri, err = parseRenewalInfo(r.body)
		if err != nil {
			return err
		}
		ri.RetryAfter = headerRetryAfter(r.header, c.clock())
		if ri.RetryAfter.IsZero() {
			ri.RetryAfter = c.clock().Add(defaultRenewalInfoRetry)
		}
		return nil
	})
	return ri, err
}
