package cli

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

func obtainCommand() command {
	return command{
		name: "obtain", live: true, summary: "obtain a certificate for one or more names", args: "NAME...",
		about: `Obtains a certificate for the NAMEs (DNS names, *.wildcards, IP addresses)
and records how (its lineage), so that renew and the daemon renew it the
same way. Give at least one challenge solver: -http-listen, -http-webroot,
-tls-listen or -dns-provider (-dns-provider exec -dns-exec CMD runs your
own program, as lego's exec provider does).`,
		examples: []string{
			"certkeeper obtain -ca letsencrypt -email me@example.com -agree-tos -http-listen :80 example.com www.example.com",
			"certkeeper obtain -http-webroot /var/www/html example.com",
			"certkeeper obtain -dns-provider rfc2136 -dns-server ns1.example.com:53 -tsig-key-file acme.key '*.example.com'",
			"certkeeper obtain -dns-provider exec -dns-exec /usr/local/bin/dns-update '*.example.com'",
			"CERTKEEPER_STORE=/etc/certkeeper certkeeper obtain -tls-listen :443 example.com",
		},
		setup: setupObtain,
	}
}

func setupObtain(fs *flagSet) func(ctx context.Context, pos []string) error {
	env := fs.env
	var (
		c              common
		sf             solverFlags
		keyType        string
		reuseKey       bool
		keyFile        string
		csrFile        string
		profile        string
		preferredChain string
		certName       string
		force          bool
		expand         bool
		replace        bool
		asJSON         bool
		names          listFlag
		deployHooks    listFlag
	)
	fs.List(&names, "domain", "a name (DNS name, *.wildcard or IP address) for the certificate; repeatable, or give names as arguments", alias("d"))
	fs.category = "Certificate"
	fs.String(&keyType, "key-type", "ec256", "certificate key type: ec256, ec384, rsa2048, rsa3072, rsa4096")
	fs.Bool(&reuseKey, "reuse-key", false, "keep the certificate's private key at renewals")
	fs.String(&keyFile, "key", "", "use the private key in this PEM file instead of a new one (kept at renewals)")
	fs.String(&csrFile, "csr", "", "finalize with the CSR in this PEM or DER file (no key is stored); its names are used when none are given")
	fs.String(&profile, "profile", "", "certificate profile to ask the CA for")
	fs.String(&preferredChain, "preferred-chain", "", "issuer common name of the chain to prefer when the CA offers several")
	fs.String(&certName, "cert-name", "", "the certificate's name in the store (default: the first name)")
	fs.Bool(&force, "force", false, "order even if a valid certificate with the same names is held")
	fs.Bool(&expand, "expand", false, "allow adding names to the stored certificate of this name")
	fs.Bool(&replace, "replace", false, "allow any change of the names of the stored certificate of this name")
	fs.List(&deployHooks, "deploy-hook", "program to run (no arguments, CERTKEEPER_* environment) whenever this certificate is obtained or renewed; repeatable; recorded for renewals")
	fs.category = ""
	fs.Bool(&asJSON, "json", false, "print the result as JSON (the object list -json prints, with outcome and error)")
	c.register(fs, env, useCA|useStore|useAccount|useTimeout)
	sf.register(fs)
	return func(ctx context.Context, pos []string) error {
		return runObtain(ctx, env, fs, &c, &sf, obtainFlags{
			keyType: &keyType, reuseKey: &reuseKey, keyFile: &keyFile, csrFile: &csrFile, profile: &profile,
			preferredChain: &preferredChain, certName: &certName, force: &force, expand: &expand, replace: &replace, asJSON: &asJSON,
			names: names, deployHooks: deployHooks,
		}, pos)
	}
}

// obtainFlags are obtain's own flags.
type obtainFlags struct {
	keyType, keyFile, csrFile, profile, preferredChain, certName *string
	reuseKey, force, expand, replace, asJSON                     *bool
	names, deployHooks                                           listFlag
}

func runObtain(ctx context.Context, env Env, fs *flagSet, c *common, sf *solverFlags, f obtainFlags, pos []string) error {
	var (
		keyType, keyFile, csrFile, profile, preferredChain, certName = f.keyType, f.keyFile, f.csrFile, f.profile, f.preferredChain, f.certName
		reuseKey, force, expand, replace                             = f.reuseKey, f.force, f.expand, f.replace
		names, deployHooks                                           = f.names, f.deployHooks
		err                                                          error
	)
	set := fs.setMap()
	names = append(pos, names...)
	if *expand && *replace {
		return usagef("-expand and -replace: give one")
	}
	ca, err := c.directoryURL()
	if err != nil {
		return err
	}
	if _, err := parseKeyType("key-type", *keyType); err != nil {
		return err
	}
	if *csrFile != "" {
		var given []string
		for _, f := range []string{"key", "key-type", "reuse-key"} {
			if set[f] {
				given = append(given, "-"+f)
			}
		}
		if len(given) > 0 {
			it := "it"
			if len(given) > 1 {
				it = "them"
			}
			return usagef("-csr brings its own key: %s cannot apply; drop %s", strings.Join(given, ", "), it)
		}
	}
	if err := c.checkCARoot(); err != nil {
		return err
	}
	// The names as they are ordered and recorded: ASCII (punycode),
	// lower-case, each once.
	if len(names) > 0 {
		ids, err := issue.ParseIdentifiers(names...)
		if err != nil {
			return usageError{err.Error()}
		}
		names = names[:0]
		for _, id := range ids {
			names = append(names, id.Value)
		}
	}
	if *certName != "" && !isASCII(*certName) {
		// An internationalised name given as the certificate's name is
		// stored as its punycode, as the names are.
		if n, err := issue.NormalizeDNSName(*certName); err == nil {
			*certName = n
		}
	}
	scfg, err := sf.config()
	if err != nil {
		return err
	}
	l := store.Lineage{
		Name: *certName, CA: ca, CARoot: c.caRootPath(), Account: c.accountID(),
		Identifiers: names, KeyType: *keyType, ReuseKey: *reuseKey,
		Challenges: sf.prefer, Profile: *profile, PreferredChain: *preferredChain,
	}
	if err := engine.SetSolvers(&l, scfg); err != nil {
		return err
	}
	for _, h := range deployHooks {
		abs, err := hookPath(h)
		if err != nil {
			return err
		}
		l.Hooks = append(l.Hooks, store.LineageHook{Command: abs})
	}
	req := engine.Request{Lineage: l, Force: *force}
	switch {
	case *expand:
		req.Names = engine.NamesExpand
	case *replace:
		req.Names = engine.NamesReplace
	}
	if *keyFile != "" {
		if req.Key, err = readKey(*keyFile); err != nil {
			return err
		}
		kt, _ := keys.TypeOf(req.Key.Public()) // readKey checked it
		if set["key-type"] && string(kt) != *keyType {
			return usagef("-key %s holds a %s key, not %s: drop -key-type", *keyFile, kt, *keyType)
		}
		req.Lineage.KeyType = string(kt)
		req.Lineage.ReuseKey = true
	}
	if *csrFile != "" {
		csr, err := readCSR(*csrFile)
		if err != nil {
			return err
		}
		req.Lineage.CSR = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
		req.Lineage.KeyType = ""
	}
	if len(req.Lineage.Identifiers) == 0 && req.Lineage.CSR == "" {
		return usagef("give the names to obtain a certificate for (or -csr FILE)")
	}
	if _, err := sf.build(env); err != nil { // the flags' mistakes, named by flag
		return err
	}
	if req.Account, err = c.accountOptions(); err != nil {
		return err
	}
	if c.accountName == "" && c.email == "" {
		// No account named: the engine keeps the one the certificate's
		// lineage records (a new certificate's is "default").
		req.Lineage.Account, req.Account.ID = "", ""
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	eng, err := c.openEngine(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	res, err := eng.Obtain(ctx, req)
	if err != nil && *f.asJSON {
		name := req.Lineage.Name
		if name == "" && len(req.Lineage.Identifiers) > 0 {
			name = req.Lineage.Identifiers[0]
		}
		fr := engine.Result{Name: name, CA: ca, Identifiers: req.Lineage.Identifiers, Outcome: engine.Failed, Err: err}
		if werr := writeJSON(env.Stdout, resultOf(ctx, eng, fr, ca)); werr != nil {
			return werr
		}
	}
	if err != nil {
		if rescued(err) != "" {
			return rescueMessage(err, "move them into place by hand, or fix the store and run obtain -force")
		}
		var le *engine.LocalError
		if errors.As(err, &le) && le.What == "solvers" {
			return errors.New(flagErrors(le.Err))
		}
		return namesMessage(err)
	}
	if *f.asJSON {
		if err := writeJSON(env.Stdout, resultOf(ctx, eng, res, ca)); err != nil {
			return err
		}
	} else if !c.quiet {
		printResult(env.Stdout, res)
	}
	if res.HookErr != nil {
		return fmt.Errorf("the certificate is stored, but a deploy hook failed: %w", res.HookErr)
	}
	return nil
}

// hookPath checks that a hook program exists and is executable, and
// returns its absolute path (looked up in PATH if it has no slash), as
// lineage records keep it.
func hookPath(p string) (string, error) {
	abs, err := exec.LookPath(p)
	if err != nil {
		return "", usagef("-deploy-hook %s: %v", p, err)
	}
	if a, err := filepath.Abs(abs); err == nil {
		abs = a
	}
	return abs, nil
}

func decodeBase64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(s), "="))
}
