package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
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

func revokeCommand() command {
	return command{
		name: "revoke", live: true, summary: "revoke a certificate", args: "NAME | -cert FILE",
		about: `Revokes a certificate of the store (NAME, from any CA unless -ca says which)
or the one in FILE, signed by the account that obtained it (its lineage
record; -email names another) or, with -with-cert-key, by its own key.
Nothing is sent unless the store can record the revocation; one the CA
had already made is recorded and exits 0.`,
		examples: []string{
			"certkeeper revoke example.com",
			"certkeeper revoke -reason key-compromise -with-cert-key example.com",
			"certkeeper revoke -ca letsencrypt -email me@example.com -cert cert.pem",
		},
		setup: setupRevoke,
	}
}

func setupRevoke(fs *flagSet) func(ctx context.Context, pos []string) error {
	env := fs.env
	var c common
	fs.category = "Certificate"
	certFile := fs.StringP("cert", "", "PEM file of the certificate to revoke (instead of a stored NAME)")
	reason := fs.StringP("reason", "unspecified", "reason: unspecified, key-compromise, affiliation-changed, superseded, cessation-of-operation")
	withKey := fs.BoolP("with-cert-key", false, "sign the request with the certificate's own key instead of the account's (needs the key: stored, or -key)")
	keyFile := fs.StringP("key", "", "PEM file of the certificate's private key, for -with-cert-key")
	fs.category = ""
	asJSON := fs.BoolP("json", false, "print the revoked certificate as JSON (the object list -json prints, with outcome \"revoked\")")
	c.register(fs, env, useCA|useStore|useEmail|useTimeout)
	return func(ctx context.Context, pos []string) error {
		set := fs.setMap()
		rc, err := reasonCode(*reason)
		if err != nil {
			return err
		}
		if (*certFile == "") == (len(pos) != 1) {
			return usagef("give either -cert FILE or exactly one stored certificate NAME")
		}
		caGiven := set["ca"]
		ca, err := c.directoryURL()
		if err != nil {
			return err
		}
		if err := c.checkCARoot(); err != nil {
			return err
		}
		var keyPEM []byte
		if *keyFile != "" {
			if keyPEM, err = readFlagFile("-key", *keyFile); err != nil {
				return err
			}
		}
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		// revoke creates no store: one that does not exist is an error.
		certs, err := c.readCerts(ctx)
		if err != nil {
			return err
		}
		eng, _, err := c.accountEngine(certs)
		if err != nil {
			return err
		}
		defer eng.Close()
		onlyCA := ""
		if caGiven {
			onlyCA = ca
		}
		// The lineage of the certificate, if the store has it: its CA, the CA's
		// roots and the account that obtained it.
		var (
			lin      *store.Lineage
			chainPEM []byte
		)
		if *certFile != "" {
			if chainPEM, err = readFlagFile("-cert", *certFile); err != nil {
				return err
			}
		} else {
			if lin, err = findStored(ctx, eng, pos[0], onlyCA, ca); err != nil {
				return err
			}
			r, err := certs.LoadCertificate(ctx, lin.CA, lin.Name)
			if err != nil || len(r.ChainPEM) == 0 {
				return fmt.Errorf("the store holds no certificate %s from %s (never obtained, or deleted): %v", lin.Name, lin.CA, err)
			}
			chainPEM = r.ChainPEM
			if len(keyPEM) == 0 {
				keyPEM = r.KeyPEM
			}
		}
		chain, err := keys.ParseCertificates(chainPEM)
		if err != nil {
			if *certFile != "" {
				return usagef("-cert %s: %v", *certFile, err)
			}
			return err
		}
		leaf := chain[0]
		if lin == nil {
			lin = storedLineageOf(ctx, eng, c.logger(), leaf, onlyCA, ca)
		}
		caRoot := c.caRootPath()
		if lin != nil {
			ca = lin.CA
			if !set["ca-root"] && lin.CARoot != "" {
				caRoot = lin.CARoot
			}
		}
		if lin != nil {
			// The CA's revocation cannot be undone: check first that the
			// store can record it, or list would go on calling it valid
			// and renew would keep it.
			if err := certs.CheckMarkRevoked(ctx, lin.CA, lin.Name); err != nil {
				return fmt.Errorf("the store %s cannot record a revocation of %s, so nothing was sent to the CA: %w", c.storeDir, lin.Name, err)
			}
		}
		cl, err := c.clientFor(ca, caRoot)
		if err != nil {
			return err
		}
		var revokeErr error
		if *withKey {
			if len(keyPEM) == 0 {
				return usagef("-with-cert-key: no private key stored for this certificate; give -key")
			}
			key, err := keys.ParsePEM(keyPEM)
			if err != nil {
				return err
			}
			revokeErr = cl.RevokeCertificateWithKey(ctx, key, leaf.Raw, rc)
		} else {
			id := c.accountID()
			if lin != nil && c.email == "" && c.accountName == "" && lin.Account != "" {
				id = lin.Account // the account that obtained it
			}
			acct, err := c.loadAccount(ctx, cl, certs, id)
			if errors.Is(err, iofs.ErrNotExist) {
				if lin != nil && id == lin.Account {
					return fmt.Errorf("the store %s has no account %s at %s, the account that obtained %s: revoke it with -with-cert-key (its own key), or with -email naming another account of that CA", c.storeDir, id, ca, lin.Name)
				}
				return fmt.Errorf("no account for %s (%s) in %s: give the -email of the account that obtained the certificate, or revoke it with -with-cert-key", ca, id, c.storeDir)
			}
			if err != nil {
				return err
			}
			revokeErr = cl.RevokeCertificate(ctx, acct, leaf.Raw, rc)
		}
		// alreadyRevoked (RFC 8555 §7.6): what the user asked for holds, and
		// the store may not know it yet (revoked elsewhere, or by a run
		// whose store could not record it).
		already := acme.IsAlreadyRevoked(revokeErr)
		if revokeErr != nil && !already {
			return revokeErr
		}
		name, names := certNames(leaf)
		if lin != nil {
			name = lin.Name
		}
		now := time.Now()
		recorded := false
		if lin != nil {
			// So that list shows it; the certificate itself is kept. One
			// the CA had revoked already keeps the record it may have.
			serial := leaf.SerialNumber.Text(16)
			if already {
				recorded, err = certs.MarkRevokedOnce(ctx, lin.CA, lin.Name, serial, now, int(rc))
			} else {
				err = certs.MarkRevoked(ctx, lin.CA, lin.Name, serial, now, int(rc))
				recorded = err == nil
			}
			if err != nil {
				if !c.quiet && !*asJSON && !already {
					printf(env.Stdout, "revoked certificate %s (%s; serial %x)\n", name, strings.Join(names, ", "), leaf.SerialNumber)
				}
				return fmt.Errorf("the CA revoked %s, but the store could not record it: %w", lin.Name, err)
			}
		}
		if !c.quiet && !*asJSON {
			switch {
			case !already:
				printf(env.Stdout, "revoked certificate %s (%s; serial %x)\n", name, strings.Join(names, ", "), leaf.SerialNumber)
			case recorded:
				printf(env.Stdout, "certificate %s (%s; serial %x) was already revoked at the CA; recorded in the store now\n", name, strings.Join(names, ", "), leaf.SerialNumber)
			default:
				printf(env.Stdout, "certificate %s (%s; serial %x) was already revoked at the CA\n", name, strings.Join(names, ", "), leaf.SerialNumber)
			}
		}
		if *asJSON {
			out := revokedResult(leaf, name, names, ca, now, int(rc))
			if lin != nil {
				if r := resultOf(ctx, eng, engine.Result{Name: lin.Name, CA: lin.CA}, ca); r.Serial == out.Serial {
					out.listEntry = r.listEntry // the store's entry, now revoked
				}
			}
			return writeJSON(env.Stdout, out)
		}
		return nil
	}
}

// findStored returns the lineage of the certificate the store keeps
// under name (engine.FindLineage), with its errors as the command line
// says them.
func findStored(ctx context.Context, eng *engine.Engine, name, ca, defaultCA string) (*store.Lineage, error) {
	l, err := eng.FindLineage(ctx, name, ca, defaultCA)
	var (
		amb  *engine.AmbiguousNameError
		none *engine.NoCertificateError
	)
	switch {
	case errors.As(err, &amb):
		return nil, usagef("%v; give -ca", amb)
	case errors.As(err, &none) && none.ReadErr == nil:
		return nil, usageError{err.Error()}
	case err != nil:
		return nil, err
	}
	return &l, nil
}

// storedLineageOf returns the lineage of the certificate of which leaf
// is a version, if the store has it (engine.LineageOf), or nil: for
// revoke -cert FILE, which works without it. What could not be read while
// looking is logged.
func storedLineageOf(ctx context.Context, eng *engine.Engine, log *slog.Logger, leaf *x509.Certificate, ca, defaultCA string) *store.Lineage {
	l, ok, err := eng.LineageOf(ctx, leaf, ca, defaultCA)
	if err != nil {
		log.WarnContext(ctx, "some of the store could not be read while looking for this certificate's record", "error", err)
	}
	if !ok {
		return nil
	}
	return &l
}

// certNames returns a name for leaf (its common name, else its first
// name) and all its names, in lower case.
func certNames(leaf *x509.Certificate) (string, []string) {
	var names []string
	for _, n := range leaf.DNSNames {
		names = append(names, strings.ToLower(n))
	}
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	name := strings.ToLower(leaf.Subject.CommonName)
	if name == "" && len(names) > 0 {
		name = names[0]
	}
	if len(names) == 0 && name != "" {
		names = []string{name}
	}
	return name, names
}
