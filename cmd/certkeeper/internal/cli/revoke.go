package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	iofs "io/fs"
	"slices"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/issue"
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
		name: "revoke", summary: "revoke a certificate", args: "NAME | -cert FILE",
		about: `Revokes a certificate of the store (NAME, from any CA unless -ca says which)
or the one in FILE, signed by the account that obtained it (its lineage
record; -email names another) or, with -with-cert-key, by its own key.`,
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
			lin = storedLineageOf(ctx, eng, certs, leaf, onlyCA, ca)
		}
		caRoot := c.caRootPath()
		if lin != nil {
			ca = lin.CA
			if !set["ca-root"] && lin.CARoot != "" {
				caRoot = lin.CARoot
			}
		}
		cl, err := c.clientFor(ca, caRoot)
		if err != nil {
			return err
		}
		if *withKey {
			if len(keyPEM) == 0 {
				return usagef("-with-cert-key: no private key stored for this certificate; give -key")
			}
			key, err := keys.ParsePEM(keyPEM)
			if err != nil {
				return err
			}
			if err := cl.RevokeCertificateWithKey(ctx, key, leaf.Raw, rc); err != nil {
				return err
			}
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
			if err := cl.RevokeCertificate(ctx, acct, leaf.Raw, rc); err != nil {
				return err
			}
		}
		name, names := certNames(leaf)
		if lin != nil {
			name = lin.Name
		}
		if !c.quiet && !*asJSON {
			printf(env.Stdout, "revoked certificate %s (%s; serial %x)\n", name, strings.Join(names, ", "), leaf.SerialNumber)
		}
		now := time.Now()
		if lin != nil {
			// So that list shows it; the certificate itself is kept.
			if err := certs.MarkRevoked(ctx, lin.CA, lin.Name, leaf.SerialNumber.Text(16), now, int(rc)); err != nil {
				return fmt.Errorf("the CA revoked %s, but the store could not record it: %w", lin.Name, err)
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
// under name: from the CA ca, or from any CA if ca is "" (it is then a
// usage error if several have one). defaultCA is the CA of certificates
// the store keeps without one (the shared layout).
func findStored(ctx context.Context, eng *engine.Engine, name, ca, defaultCA string) (*store.Lineage, error) {
	ls, lerr := eng.Lineages(ctx, ca, defaultCA)
	if ls == nil && lerr != nil {
		return nil, lerr
	}
	match := func(n string) []store.Lineage {
		var out []store.Lineage
		for _, l := range ls {
			if l.Name == n {
				out = append(out, l)
			}
		}
		return out
	}
	found := match(name)
	if len(found) == 0 {
		// An internationalised name, or one in other case or with a
		// trailing dot: the store has it as ordered.
		if id, err := issue.ParseIdentifier(name); err == nil {
			found = match(id.Value)
		}
	}
	switch len(found) {
	case 0:
		from := ""
		if ca != "" {
			from = " from " + ca
		}
		if lerr != nil {
			return nil, fmt.Errorf("the store has no certificate %s%s that can be read: %w", name, from, lerr)
		}
		return nil, usagef("the store has no certificate %s%s", name, from)
	case 1:
		return &found[0], nil
	}
	var cas []string
	for _, l := range found {
		cas = append(cas, l.CA)
	}
	return nil, usagef("the store has certificates %s from several CAs: %s; give -ca", found[0].Name, strings.Join(cas, ", "))
}

// storedLineageOf returns the lineage of the certificate of which leaf
// is a version, if the store has it (from the CA ca, or any CA if ca is
// ""), or nil: for revoke -cert FILE.
func storedLineageOf(ctx context.Context, eng *engine.Engine, certs *store.Certs, leaf *x509.Certificate, ca, defaultCA string) *store.Lineage {
	ls, _ := eng.Lineages(ctx, ca, defaultCA)
	serial := leaf.SerialNumber.Text(16)
	_, names := certNames(leaf)
	for _, l := range ls {
		if !slices.ContainsFunc(l.Identifiers, func(id string) bool { return slices.Contains(names, strings.ToLower(id)) }) {
			continue
		}
		vs, err := certs.Versions(ctx, l.CA, l.Name)
		if err != nil {
			continue
		}
		for _, v := range vs {
			if v.Serial == serial {
				return &l
			}
		}
	}
	return nil
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
