package acme

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// maxAlternateChains bounds how many alternate chains are fetched.
const maxAlternateChains = 8

// GetCertificateChains downloads the certificate (RFC 8555 §7.4.2): the
// default chain first, then each chain named by a Link rel="alternate"
// header of the default one, in header order.
func (c *Client) GetCertificateChains(ctx context.Context, acct Account, certURL string) ([]Chain, error) {
	def, alts, err := c.getChain(ctx, acct, certURL)
	if err != nil {
		return nil, err
	}
	chains := []Chain{def}
	for i, u := range alts {
		if i == maxAlternateChains {
			break
		}
		if u == certURL {
			continue
		}
		ch, _, err := c.getChain(ctx, acct, u)
		if err != nil {
			return nil, fmt.Errorf("acme: alternate chain: %w", err)
		}
		chains = append(chains, ch)
	}
	return chains, nil
}

func (c *Client) getChain(ctx context.Context, acct Account, url string) (Chain, []string, error) {
	resp, err := c.postAsGet(ctx, "cert", acct, url, contentTypeChain, maxChainBody)
	if err != nil {
		return Chain{}, nil, err
	}
	certs, err := parseChain(resp.body)
	if err != nil {
		return Chain{}, nil, fmt.Errorf("%w (from %s)", err, trimURL(url))
	}
	return Chain{URL: url, PEM: resp.body, Certificates: certs}, linkURLs(resp.header, "alternate", resp.url), nil
}

// parseChain parses an application/pem-certificate-chain body (RFC 8555
// §9.1): one or more CERTIFICATE blocks, leaf first, and nothing else but
// whitespace between them.
func parseChain(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("acme: unexpected PEM block %q in certificate chain", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("acme: certificate %d of chain: %w", len(certs), err)
		}
		certs = append(certs, cert)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("acme: trailing data after certificate chain")
	}
	if len(certs) == 0 {
		return nil, errors.New("acme: no certificate in chain")
	}
	return certs, nil
}
