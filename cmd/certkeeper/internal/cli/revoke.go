package cli

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/engine"
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
		req := engine.RevokeRequest{WithCertKey: *withKey}
		var err error
		if req.Reason, err = reasonCode(*reason); err != nil {
			return err
		}
		if (*certFile == "") == (len(pos) != 1) {
			return usagef("give either -cert FILE or exactly one stored certificate NAME")
		}
		if req.DefaultCA, err = c.directoryURL(); err != nil {
			return err
		}
		if set["ca"] {
			req.CA = req.DefaultCA
		}
		if err := c.checkCARoot(); err != nil {
			return err
		}
		req.CARoot = c.caRootPath() // "" for the lineage's
		if *keyFile != "" {
			if !*withKey {
				// Without -with-cert-key the account key signs: a -key
				// given would be read and ignored.
				return usagef("-key is the certificate's private key, which signs the revocation only with -with-cert-key: give -with-cert-key too, or leave -key out to sign with the account key")
			}
			if req.CertKey, err = readCertKey(*keyFile, *withKey); err != nil {
				return err
			}
		}
		if *certFile != "" {
			if req.Certificate, err = readCertFile(*certFile); err != nil {
				return err
			}
		} else {
			req.Name = pos[0]
		}
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		// revoke creates no store: one that does not exist is an error.
		certs, err := c.readCerts(ctx)
		if err != nil {
			return err
		}
		if c.email != "" || c.accountName != "" {
			req.Account = c.accountID() // after readCerts, which tells the layout
		} // else the account that obtained it
		eng, err := engine.New(engine.Config{
			Store: certs.Store, Layout: certs.Layout, Logger: c.logger(), UserAgent: "certkeeper-cli",
			// A plain-HTTP CA only for tests against a local CA.
			AllowHTTPCA: c.env.Getenv("CERTKEEPER_INSECURE_HTTP_CA") == "1",
		})
		if err != nil {
			return err
		}
		defer eng.Close()
		res, err := eng.Revoke(ctx, req)
		if err != nil {
			var rec *engine.RevocationRecordError
			if errors.As(err, &rec) && rec.Sent && !c.quiet && !*asJSON && !res.AlreadyRevoked {
				printf(env.Stdout, "revoked certificate %s (%s; serial %s)\n", res.Name, strings.Join(res.Identifiers, ", "), res.Serial)
			}
			return c.revokeError(err, *certFile)
		}
		if !c.quiet && !*asJSON {
			what := fmt.Sprintf("%s (%s; serial %s)", res.Name, strings.Join(res.Identifiers, ", "), res.Serial)
			switch {
			case !res.AlreadyRevoked:
				printf(env.Stdout, "revoked certificate %s\n", what)
			case res.Recorded:
				printf(env.Stdout, "certificate %s was already revoked at the CA; recorded in the store now\n", what)
			default:
				printf(env.Stdout, "certificate %s was already revoked at the CA\n", what)
			}
			if res.SameKeyRevoked {
				printf(env.Stdout, "revoked certificate %s (serial %s) too: the current version, with the same key\n", res.Name, res.CurrentSerial)
			}
		}
		if *asJSON {
			out := revokedResult(res.Certificate, res.Name, res.Identifiers, res.CA, res.At, int(res.Reason))
			if res.Stored {
				if r := resultOf(ctx, eng, engine.Result{Name: res.Name, CA: res.CA}, req.DefaultCA); r.Serial == out.Serial {
					out.listEntry = r.listEntry // the store's entry, now revoked
				}
			}
			return writeJSON(env.Stdout, out)
		}
		return nil
	}
}

// revokeError says err of engine.Revoke in terms of this command's flags
// and store, with its exit code.
func (c *common) revokeError(err error, certFile string) error {
	var (
		amb  *engine.AmbiguousNameError
		none *engine.NoCertificateError
		acct *engine.NoAccountError
		rec  *engine.RevocationRecordError
	)
	switch {
	case errors.As(err, &amb):
		return usagef("%v; give -ca", amb)
	case errors.As(err, &none) && none.ReadErr == nil:
		return usageError{err.Error()}
	case errors.Is(err, engine.ErrNoCertificateKey):
		return usagef("-with-cert-key: no private key stored for this certificate; give -key")
	case errors.Is(err, engine.ErrCertKeyMismatch) && certFile != "":
		return usagef("-with-cert-key: the private key is not the key of the certificate in -cert %s", certFile)
	case errors.Is(err, engine.ErrCertKeyMismatch):
		return usagef("-with-cert-key: the private key is not the certificate's; give its -key")
	case errors.As(err, &acct) && acct.ObtainedBy != "":
		return fmt.Errorf("the store %s has no account %s at %s, the account that obtained %s: revoke it with -with-cert-key (its own key), or with -email naming another account of that CA", c.storeDir, acct.ID, acct.CA, acct.ObtainedBy)
	case errors.As(err, &acct):
		return fmt.Errorf("no account for %s (%s) in %s: give the -email of the account that obtained the certificate, or revoke it with -with-cert-key", acct.CA, acct.ID, c.storeDir)
	case errors.As(err, &rec) && !rec.Sent:
		return fmt.Errorf("the store %s cannot record a revocation of %s, so nothing was sent to the CA: %w", c.storeDir, rec.Name, rec.Err)
	}
	return err
}

// readCertFile reads the leaf of the PEM file of -cert: a usage error if
// it holds no certificate.
func readCertFile(path string) (*x509.Certificate, error) {
	data, err := readFlagFile("-cert", path)
	if err != nil {
		return nil, err
	}
	chain, err := keys.ParseCertificates(data)
	if err != nil {
		return nil, usagef("-cert %s: %v", path, err)
	}
	return chain[0], nil
}

// readCertKey reads the private key of -key, parsed only when it is used
// (-with-cert-key): a usage error if it holds none. Any key type is
// taken, since a certificate with a key too weak to order again may still
// be revoked.
func readCertKey(path string, used bool) (crypto.Signer, error) {
	data, err := readFlagFile("-key", path)
	if err != nil || !used {
		return nil, err
	}
	key, err := keys.ParsePEM(data)
	if err != nil {
		return nil, usagef("-key %s: %v", path, err)
	}
	return key, nil
}
