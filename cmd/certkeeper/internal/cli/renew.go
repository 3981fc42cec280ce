package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/store"
)

func renewCommand() command {
	return command{
		name: "renew", live: true, summary: "renew every stored certificate that is due", args: "[NAME...]",
		about: `Renews every certificate of the store that is due, of every CA, each as it
was obtained (its lineage record: CA, account, key type, solvers, hooks).
Flags given here apply to this run only, unless -update-lineage.
Exit status: 0 when everything due was renewed (or nothing was due),
6 when at least one certificate failed, 2 for a NAME the store does not
have, 1 when there is no store at -store (renew creates none).`,
		examples: []string{
			"certkeeper renew -store /etc/certkeeper",
			"certkeeper renew -force example.com",
			"certkeeper renew -http-listen :8080 -update-lineage",
		},
		setup: setupRenew,
	}
}

func setupRenew(fs *flagSet) func(ctx context.Context, pos []string) error {
	env := fs.env
	var (
		c           common
		sf          solverFlags
		deployHooks listFlag
	)
	fs.category = "Certificate"
	force := fs.BoolP("force", false, "renew every certificate (or the NAMEs), due or not")
	reuseKey := fs.BoolP("reuse-key", false, "keep each certificate's private key instead of making a new one")
	keyType := fs.StringP("key-type", "ec256", "key type for new keys")
	updateLineage := fs.BoolP("update-lineage", false, "record the settings given here in each certificate's lineage, for later renewals")
	fs.List(&deployHooks, "deploy-hook", "program to run after a certificate is renewed, instead of its recorded hooks; repeatable")
	fs.category = ""
	asJSON := fs.BoolP("json", false, "print the results as JSON: an array of the objects list -json prints, with outcome and error")
	c.register(fs, env, useCA|useStore|useAccount|useTimeout)
	sf.register(fs)
	return func(ctx context.Context, pos []string) error {
		var err error
		set := fs.setMap()
		if set["key-type"] {
			if _, err := parseKeyType("key-type", *keyType); err != nil {
				return err
			}
		}
		opts := engine.RenewOptions{Names: pos, Force: *force, UpdateLineage: *updateLineage}
		if set["ca"] || false {
			if opts.CA, err = c.directoryURL(); err != nil {
				return err
			}
		}
		// The CA of certificates the shared layout holds without saying.
		if opts.DefaultCA, err = c.directoryURL(); err != nil {
			return err
		}
		var hooks []store.LineageHook
		for _, h := range deployHooks {
			abs, err := hookPath(h)
			if err != nil {
				return err
			}
			hooks = append(hooks, store.LineageHook{Command: abs})
		}
		var overrideSolvers []byte
		if sf.set() {
			scfg, err := sf.config()
			if err != nil {
				return err
			}
			var l store.Lineage
			if err := engine.SetSolvers(&l, scfg); err != nil {
				return err
			}
			overrideSolvers = l.Solvers
		}
		opts.Override = func(l *store.Lineage) error {
			if set["key-type"] {
				l.KeyType = *keyType
			}
			if set["reuse-key"] {
				l.ReuseKey = *reuseKey
			}
			if overrideSolvers != nil {
				l.Solvers = overrideSolvers
			}
			if set["challenge"] {
				l.Challenges = sf.prefer
			}
			if set["ca-root"] {
				l.CARoot = c.caRootPath()
			}
			if hooks != nil {
				l.Hooks = hooks
			}
			return nil
		}
		if opts.Account, err = c.accountOptions(); err != nil {
			return err
		}
		if c.email == "" {
			opts.Account.Contact = nil
		}
		if set["ca-root"] {
			if err := c.checkCARoot(); err != nil {
				return err
			}
		}
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		// renew creates no store: one that does not exist is an error (a
		// mistyped -store), not an empty one.
		if _, err := c.readCerts(ctx); err != nil {
			return err
		}
		eng, err := c.openEngine(ctx)
		if err != nil {
			return err
		}
		defer eng.Close()
		// What the flags ask for must be in the store, before anything is
		// renewed.
		lineages, lerr := eng.Lineages(ctx, opts.CA, opts.DefaultCA)
		if lerr == nil {
			if len(lineages) == 0 && opts.CA != "" {
				if err := noCertsFrom(ctx, eng, c.storeDir, opts.CA, opts.DefaultCA); err != nil {
					return err
				}
			}
			if opts.Names, err = namesInStore(lineages, opts.Names, opts.CA); err != nil {
				return err
			}
		}
		results, loadErr := eng.Renew(ctx, opts)
		if results == nil && loadErr != nil {
			return loadErr
		}
		if loadErr != nil {
			for _, err := range unjoin(loadErr) {
				fmt.Fprintf(env.Stderr, "certkeeper renew: %v\n", err)
			}
		}
		if *asJSON {
			if err := writeJSON(env.Stdout, resultsOf(ctx, eng, results, opts.DefaultCA)); err != nil {
				return err
			}
		}
		if len(results) == 0 && loadErr == nil {
			if !c.quiet && !*asJSON {
				printf(env.Stdout, "no certificates in %s\n", c.storeDir)
			}
			return nil
		}
		failed, hookFailed, renewed, interrupted := len(unjoin(loadErr)), 0, 0, false
		for _, r := range results {
			if r.Outcome == engine.Failed && errors.Is(r.Err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled) {
				// Ctrl-C: said once, as for every command, not as
				// "context canceled" per name.
				interrupted = true
				continue
			}
			if r.Outcome == engine.Failed {
				failed++
				msg := r.Err.Error()
				if rescued(r.Err) != "" {
					msg = rescueMessage(r.Err, "move them into place by hand, or fix the store and run renew -force "+r.Name).Error()
				}
				fmt.Fprintf(env.Stderr, "certkeeper renew: %s: %s\n", r.Name, msg)
				continue
			}
			if r.Outcome == engine.Renewed || r.Outcome == engine.Obtained {
				renewed++
			}
			if !c.quiet && !*asJSON {
				printResult(env.Stdout, r)
			}
			if r.HookErr != nil {
				hookFailed++
				fmt.Fprintf(env.Stderr, "certkeeper renew: %s: the certificate is stored, but a deploy hook failed: %v\n", r.Name, r.HookErr)
			}
		}
		if renewed == 0 && failed == 0 && hookFailed == 0 && !interrupted && !c.quiet && !*asJSON {
			printf(env.Stdout, "nothing to renew: no certificate is due (%d in the store)\n", len(results))
		}
		if interrupted {
			return ctx.Err()
		}
		if failed > 0 || hookFailed > 0 {
			return partialError{failed: failed, hooks: hookFailed, total: len(results) + len(unjoin(loadErr))}
		}
		return nil
	}
}

// unjoin splits a joined error into its parts.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// noCertsFrom is the error of a command limited to the CA ca that finds
// no certificate of it in a store that has others' (nil if the store has
// none at all): list and renew say so alike.
func noCertsFrom(ctx context.Context, eng *engine.Engine, storeDir, ca, defaultCA string) error {
	all, _ := eng.Lineages(ctx, "", defaultCA)
	var cas []string
	for _, l := range all {
		if l.CA != ca && !slices.Contains(cas, l.CA) {
			cas = append(cas, l.CA)
		}
	}
	if len(cas) == 0 {
		return nil
	}
	return fmt.Errorf("the store %s has no certificate from %s; it has certificates from %s", storeDir, ca, strings.Join(cas, ", "))
}

// namesInStore returns the certificate names the store has (ls) for the
// names given on the command line, or a usage error naming those it does
// not have. A name given as an internationalised name, or in other
// case, is the name it is stored under.
func namesInStore(ls []store.Lineage, names []string, ca string) ([]string, error) {
	has := func(n string) bool {
		return slices.ContainsFunc(ls, func(l store.Lineage) bool { return l.Name == n })
	}
	var out, missing []string
	for _, n := range names {
		if !has(n) {
			if id, err := issue.ParseIdentifier(n); err == nil && has(id.Value) {
				n = id.Value
			} else {
				missing = append(missing, n)
				continue
			}
		}
		out = append(out, n)
	}
	if len(missing) > 0 {
		// Worded as list and revoke word it: one line a name.
		errs := make([]error, len(missing))
		for i, n := range missing {
			errs[i] = &engine.NoCertificateError{Name: n, CA: ca}
		}
		return nil, usagef("%v", errors.Join(errs...))
	}
	return out, nil
}
