package bench

import (
	"context"
	"crypto/x509"
	"net/http"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
)

// certkeeperClient drives certkeeper's issue.Issuer with its defaults.
type certkeeperClient struct {
	env    *Env
	client *acme.Client
	issuer *issue.Issuer
}

func newCertkeeper(env *Env, hc *http.Client) Client {
	return &certkeeperClient{env: env, client: &acme.Client{DirectoryURL: env.DirectoryURL, HTTPClient: hc}}
}

func (c *certkeeperClient) NewAccount(ctx context.Context) error {
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		return err
	}
	acct, err := c.client.NewAccount(ctx, acme.Account{Key: key, TermsOfServiceAgreed: true})
	if err != nil {
		return err
	}
	c.issuer = &issue.Issuer{
		Client:  c.client,
		Account: acct,
		Solvers: map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: certkeeperSolver{c.env.Challenges}},
	}
	return nil
}

func (c *certkeeperClient) Obtain(ctx context.Context, names []string) (*x509.Certificate, error) {
	ids, err := issue.ParseIdentifiers(names...)
	if err != nil {
		return nil, err
	}
	cert, err := c.issuer.Obtain(ctx, issue.Request{Identifiers: ids})
	if err != nil {
		return nil, err
	}
	return cert.Leaf, nil
}

// certkeeperSolver adapts the shared handler to challenge.Solver.
type certkeeperSolver struct{ h *ChallengeHandler }

func (s certkeeperSolver) Present(_ context.Context, chal acme.Challenge) error {
	s.h.Put(chal.Token, chal.KeyAuthorization)
	return nil
}

func (s certkeeperSolver) CleanUp(_ context.Context, chal acme.Challenge) error {
	s.h.Delete(chal.Token)
	return nil
}
