package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/crypto/acme"
)

// xcryptoClient drives golang.org/x/crypto/acme the way its own autocert
// package does: order, then for each authorization fetch it, present and
// accept http-01, wait for it; then CreateCertFromOrder (finalize, wait,
// download). Library defaults throughout (1 s poll interval when the CA
// sends no Retry-After; exponential backoff from 1 s on badNonce).
type xcryptoClient struct {
	env *Env
	c   *acme.Client
}

func newXCrypto(env *Env, hc *http.Client) Client {
	return &xcryptoClient{env: env, c: &acme.Client{DirectoryURL: env.DirectoryURL, HTTPClient: hc}}
}

func (x *xcryptoClient) NewAccount(ctx context.Context) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	x.c.Key = key
	_, err = x.c.Register(ctx, &acme.Account{}, acme.AcceptTOS)
	return err
}

func (x *xcryptoClient) Obtain(ctx context.Context, names []string) (*x509.Certificate, error) {
	o, err := x.c.AuthorizeOrder(ctx, acme.DomainIDs(names...))
	if err != nil {
		return nil, fmt.Errorf("new order: %w", err)
	}
	// Present and accept every pending authorization first, then wait for
	// them, so that several names validate in parallel.
	var pending []string
	for _, u := range o.AuthzURLs {
		z, err := x.c.GetAuthorization(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("get authorization: %w", err)
		}
		if z.Status != acme.StatusPending {
			continue
		}
		var chal *acme.Challenge
		for _, ch := range z.Challenges {
			if ch.Type == "http-01" {
				chal = ch
				break
			}
		}
		if chal == nil {
			return nil, errors.New("no http-01 challenge offered")
		}
		resp, err := x.c.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return nil, err
		}
		x.env.Challenges.Put(chal.Token, resp)
		defer x.env.Challenges.Delete(chal.Token)
		if _, err := x.c.Accept(ctx, chal); err != nil {
			return nil, fmt.Errorf("accept: %w", err)
		}
		pending = append(pending, z.URI)
	}
	for _, u := range pending {
		if _, err := x.c.WaitAuthorization(ctx, u); err != nil {
			return nil, fmt.Errorf("wait authorization: %w", err)
		}
	}
	o, err = x.c.WaitOrder(ctx, o.URI)
	if err != nil {
		return nil, fmt.Errorf("wait order: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: names[0]},
		DNSNames: names,
	}, key)
	if err != nil {
		return nil, err
	}
	der, _, err := x.c.CreateCertFromOrder(ctx, o, csr, true)
	if err != nil {
		return nil, fmt.Errorf("finalize: %w", err)
	}
	return x509.ParseCertificate(der[0])
}
