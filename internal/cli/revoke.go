package cli

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
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
	if c.layout == "" {
		// As list reads it, so that it finds the revocation recorded.
		if certs.Layout, err = engine.DetectLayout(ctx, certs.Store); err != nil {
			return err
		}
	}
	var (
		chainPEM, keyPEM []byte
		stored           string // the name the store keeps it under, if any
	)
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
		chainPEM, keyPEM, stored = r.ChainPEM, r.KeyPEM, r.Name
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
	if stored == "" {
		stored = storedNameOf(ctx, certs, cl.DirectoryURL, chain[0])
	}
	if stored != "" {
		// So that list shows it; the certificate itself is kept.
		if err := certs.MarkRevoked(ctx, cl.DirectoryURL, stored, chain[0].SerialNumber.Text(16), time.Now(), int(rc)); err != nil {
			return fmt.Errorf("the CA revoked %s, but the store could not record it: %w", stored, err)
		}
	}
	return nil
}

// storedNameOf returns the name under which the store keeps leaf (one of
// its versions) from ca, or "" if it does not: for revoke -cert FILE.
func storedNameOf(ctx context.Context, certs *store.Certs, ca string, leaf *x509.Certificate) string {
	names := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if leaf.Subject.CommonName != "" {
		names = append([]string{leaf.Subject.CommonName}, names...)
	}
	serial := leaf.SerialNumber.Text(16)
	for _, n := range names {
		vs, err := certs.Versions(ctx, ca, strings.ToLower(n))
		if err != nil {
			continue
		}
		for _, v := range vs {
			if v.Serial == serial {
				return strings.ToLower(n)
			}
		}
	}
	return ""
}
