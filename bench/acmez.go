package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"

	"github.com/mholt/acmez/v3"
	"github.com/mholt/acmez/v3/acme"
)

// acmezClient drives github.com/mholt/acmez/v3 with its high-level
// ObtainCertificateForSANs and library defaults (250 ms poll interval when
// the CA sends no Retry-After; 250 ms pause before each badNonce retry).
type acmezClient struct {
	c       *acmez.Client
	account acme.Account
}

func newAcmez(env *Env, hc *http.Client) Client {
	return &acmezClient{c: &acmez.Client{
		Client:           &acme.Client{Directory: env.DirectoryURL, HTTPClient: hc},
		ChallengeSolvers: map[string]acmez.Solver{"http-01": acmezSolver{env.Challenges}},
	}}
}

func (a *acmezClient) NewAccount(ctx context.Context) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	a.account, err = a.c.NewAccount(ctx, acme.Account{PrivateKey: key, TermsOfServiceAgreed: true})
	return err
}

func (a *acmezClient) Obtain(ctx context.Context, names []string) (*x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	chains, err := a.c.ObtainCertificateForSANs(ctx, a.account, key, names)
	if err != nil {
		return nil, err
	}
	if len(chains) == 0 {
		return nil, errors.New("no chain")
	}
	b, _ := pem.Decode(chains[0].ChainPEM)
	if b == nil {
		return nil, errors.New("chain is not PEM")
	}
	return x509.ParseCertificate(b.Bytes)
}

type acmezSolver struct{ h *ChallengeHandler }

func (s acmezSolver) Present(_ context.Context, chal acme.Challenge) error {
	s.h.Put(chal.Token, chal.KeyAuthorization)
	return nil
}

func (s acmezSolver) CleanUp(_ context.Context, chal acme.Challenge) error {
	s.h.Delete(chal.Token)
	return nil
}
