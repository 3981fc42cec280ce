package cli

import (
	"context"
	"os"
	"strings"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/keys"
)

func reasonCode(s string) (acme.RevocationReason, error) {
	switch strings.ToLower(s) {
	case "", "unspecified":
		return acme.ReasonUnspecified, nil
	case "keycompromise", "key-compromise":
		return acme.ReasonKeyCompromise, nil
	case "affiliationchanged", "affiliation-changed":
		return acme.ReasonAffiliationChanged, nil
	case "superseded":
		return acme.ReasonSuperseded, nil
	case "cessationofoperation", "cessation-of-operation":
		return acme.ReasonCessationOfOperation, nil
	}
	return 0, usagef("unknown -reason %q: want unspecified, key-compromise, affiliation-changed, superseded or cessation-of-operation", s)
}

func runRevoke(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet("revoke", env)
	var c common
	c.register(fs, env)
	certFile := fs.String("cert", "", "PEM file of the certificate to revoke (instead of a stored NAME)")
	reason := fs.String("reason", "unspecified", "reason: unspecified, key-compromise, affiliation-changed, superseded, cessation-of-operation")
	withKey := fs.Bool("with-cert-key", false, "sign the request with the certificate's own key instead of the account's (needs the key: stored, or -key)")
	keyFile := fs.String("key", "", "PEM file of the certificate's private key, for -with-cert-key")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	rc, err := reasonCode(*reason)
	if err != nil {
		return err
	}
	if (*certFile == "") == (len(pos) != 1) {
		return usagef("give either -cert FILE or exactly one stored certificate NAME")
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cl, certs, err := c.open()
	if err != nil {
		return err
	}
	var chainPEM, keyPEM []byte
	if *certFile != "" {
		if chainPEM, err = os.ReadFile(*certFile); err != nil {
			return err
		}
	} else {
		name := pos[0]
		if strings.HasPrefix(name, "*.") {
			name = strings.ToLower(name)
		}
		r, err := certs.LoadCertificate(ctx, cl.DirectoryURL, name)
		if err != nil {
			return err
		}
		chainPEM, keyPEM = r.ChainPEM, r.KeyPEM
	}
	chain, err := keys.ParseCertificates(chainPEM)
	if err != nil {
		return err
	}
	leaf := chain[0].Raw
	if *withKey {
		if *keyFile != "" {
			if keyPEM, err = os.ReadFile(*keyFile); err != nil {
				return err
			}
		}
		if len(keyPEM) == 0 {
			return usagef("-with-cert-key: no private key stored for this certificate; give -key")
		}
		key, err := keys.ParsePEM(keyPEM)
		if err != nil {
			return err
		}
		err = cl.RevokeCertificateWithKey(ctx, key, leaf, rc)
		if err != nil {
			return err
		}
	} else {
		acct, err := c.account(ctx, cl, certs, false)
		if err != nil {
			return err
		}
		if err := cl.RevokeCertificate(ctx, acct, leaf, rc); err != nil {
			return err
		}
	}
	if !c.quiet {
		printf(env.Stdout, "revoked certificate %s (serial %x)\n", chain[0].Subject.CommonName, chain[0].SerialNumber)
	}
	return nil
}
