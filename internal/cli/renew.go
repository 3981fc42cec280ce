package cli

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
)

// renewalDue returns when a certificate should be renewed without help
// from the CA: when a third of its lifetime is left, or half of it for
// certificates of ten days or less (so six-day certificates are renewed
// with three days to spare).
func renewalDue(notBefore, notAfter time.Time) time.Time {
	life := notAfter.Sub(notBefore)
	left := life / 3
	if life <= 10*24*time.Hour {
		left = life / 2
	}
	return notAfter.Add(-left)
}

func runRenew(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet("renew", env)
	var (
		c        common
		sf       solverFlags
		force    = fs.Bool("force", false, "renew every certificate, due or not")
		reuseKey = fs.Bool("reuse-key", false, "keep each certificate's private key instead of making a new one")
		keyType  = fs.String("key-type", "ec256", "key type for new keys")
	)
	c.register(fs, env)
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("renew takes no arguments; it renews what is due in the store")
	}
	kt, err := keys.ParseType(*keyType)
	if err != nil {
		return usageError{err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cl, certs, err := c.open()
	if err != nil {
		return err
	}
	// A certificate that cannot be read is reported and counted as a
	// failure; the others are renewed all the same.
	all, loadErr := certs.ListCertificates(ctx, cl.DirectoryURL)
	if all == nil && loadErr != nil && !isLoadErrors(loadErr) {
		return loadErr
	}
	var unreadable []error
	if loadErr != nil {
		unreadable = []error{loadErr}
		if j, ok := loadErr.(interface{ Unwrap() []error }); ok {
			unreadable = j.Unwrap()
		}
		for _, err := range unreadable {
			fmt.Fprintf(env.Stderr, "certkeeper renew: %v\n", err)
		}
	}
	dir, err := cl.Directory(ctx)
	if err != nil {
		return err
	}
	log := c.logger()
	now := time.Now()
	var due []int
	for i, r := range all {
		chain, err := keys.ParseCertificates(r.ChainPEM)
		if err != nil {
			log.WarnContext(ctx, "stored chain unreadable; renewing", "name", r.Name, "error", err)
			due = append(due, i)
			continue
		}
		when := renewalDue(chain[0].NotBefore, chain[0].NotAfter)
		if dir.RenewalInfo != "" {
			if ri, err := cl.RenewalInfo(ctx, chain[0]); err == nil {
				when = ri.SuggestedWindow.Start
			} else {
				log.WarnContext(ctx, "renewal information unavailable; using the lifetime rule", "name", r.Name, "error", err)
			}
		}
		if *force || !now.Before(when) {
			due = append(due, i)
		} else {
			log.InfoContext(ctx, "not due", "name", r.Name, "due", when.UTC().Format(time.RFC3339))
		}
	}
	if len(due) == 0 {
		if !c.quiet {
			printf(env.Stdout, "nothing to renew (%d certificates)\n", len(all))
		}
		if len(unreadable) > 0 {
			return partialError{failed: len(unreadable), total: len(unreadable)}
		}
		return nil
	}
	set, err := sf.prepare(ctx, env)
	if err != nil {
		return err
	}
	defer set.Close()
	solvers, pref := set.Solvers, set.Preference
	acct, err := c.account(ctx, cl, certs, false)
	if err != nil {
		return err
	}
	is := &issue.Issuer{Client: cl, Account: acct, Solvers: solvers, Preference: pref, Logger: log}
	failed := len(unreadable)
	for _, i := range due {
		r := all[i]
		ids, err := issue.ParseIdentifiers(r.Identifiers...)
		if err == nil {
			req := issue.Request{Identifiers: ids, KeyType: kt, Profile: r.Profile}
			if chain, perr := keys.ParseCertificates(r.ChainPEM); perr == nil && dir.RenewalInfo != "" {
				req.Replaces = ariID(chain[0])
			}
			if *reuseKey && len(r.KeyPEM) > 0 {
				req.Key, err = keys.ParsePEM(r.KeyPEM)
			}
			if err == nil {
				_, _, err = obtainAndStore(ctx, is, certs, req)
			}
		}
		if err != nil {
			failed++
			fmt.Fprintf(env.Stderr, "certkeeper renew: %s: %v\n", r.Name, err)
			continue
		}
		if !c.quiet {
			printf(env.Stdout, "renewed %s\n", r.Name)
		}
	}
	if failed > 0 {
		return partialError{failed: failed, total: len(due) + len(unreadable)}
	}
	return nil
}

func ariID(leaf *x509.Certificate) string {
	id, err := acme.ARICertID(leaf)
	if err != nil {
		return ""
	}
	return id
}
