package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

func runRenew(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet("renew", env)
	var (
		c             common
		sf            solverFlags
		force         = fs.Bool("force", false, "renew every certificate (or the NAMEs), due or not")
		reuseKey      = fs.Bool("reuse-key", false, "keep each certificate's private key instead of making a new one")
		keyType       = fs.String("key-type", "ec256", "key type for new keys")
		updateLineage = fs.Bool("update-lineage", false, "record the settings given here in each certificate's lineage, for later renewals")
		deployHooks   listFlag
	)
	c.register(fs, env)
	sf.register(fs)
	fs.Var(&deployHooks, "deploy-hook", "program to run after a certificate is renewed, instead of its recorded hooks; repeatable")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: certkeeper renew [flags] [NAME...]

Renews every certificate of the store that is due, of every CA, each as it
was obtained (its lineage record: CA, account, key type, solvers, hooks).
Flags given here apply to this run only, unless -update-lineage.
Exit status: 0 when everything due was renewed (or nothing was due),
6 when at least one certificate failed.`)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["key-type"] {
		if _, err := keys.ParseType(*keyType); err != nil {
			return usageError{err.Error()}
		}
	}
	opts := engine.RenewOptions{Names: pos, Force: *force, UpdateLineage: *updateLineage}
	if set["ca"] || c.env.Getenv("CERTKEEPER_CA") != "" {
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
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	eng, err := c.openEngine(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	results, loadErr := eng.Renew(ctx, opts)
	if results == nil && loadErr != nil {
		return loadErr
	}
	if loadErr != nil {
		for _, err := range unjoin(loadErr) {
			fmt.Fprintf(env.Stderr, "certkeeper renew: %v\n", err)
		}
	}
	if len(results) == 0 && loadErr == nil {
		if opts.CA != "" {
			if all, _ := eng.Lineages(ctx, "", opts.DefaultCA); len(all) > 0 {
				var cas []string
				for _, l := range all {
					if !strings.Contains(strings.Join(cas, " "), l.CA) {
						cas = append(cas, l.CA)
					}
				}
				return fmt.Errorf("the store %s has no certificate from %s; it has certificates from %s", c.storeDir, opts.CA, strings.Join(cas, ", "))
			}
		}
		if !c.quiet {
			printf(env.Stdout, "no certificates in %s\n", c.storeDir)
		}
		return nil
	}
	failed, renewed := len(unjoin(loadErr)), 0
	for _, r := range results {
		if r.Outcome == engine.Failed {
			failed++
			msg := r.Err.Error()
			if p := rescued(r.Err); p != "" {
				msg += " (the certificate is saved in " + p + ")"
			}
			fmt.Fprintf(env.Stderr, "certkeeper renew: %s: %s\n", r.Name, msg)
			continue
		}
		if r.Outcome == engine.Renewed || r.Outcome == engine.Obtained {
			renewed++
		}
		if !c.quiet {
			printResult(env.Stdout, r)
		}
		if r.HookErr != nil {
			failed++
			fmt.Fprintf(env.Stderr, "certkeeper renew: %s: the certificate is stored, but a deploy hook failed: %v\n", r.Name, r.HookErr)
		}
	}
	if renewed == 0 && failed == 0 && !c.quiet {
		printf(env.Stdout, "nothing to renew: no certificate is due (%d in the store)\n", len(results))
	}
	if failed > 0 {
		return partialError{failed: failed, total: len(results) + len(unjoin(loadErr))}
	}
	return nil
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
