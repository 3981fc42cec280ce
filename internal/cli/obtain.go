package cli

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

func runObtain(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet("obtain", env)
	var (
		c              common
		sf             solverFlags
		keyType        = fs.String("key-type", "ec256", "certificate key type: ec256, ec384, rsa2048, rsa3072, rsa4096")
		keyFile        = fs.String("key", "", "use the private key in this PEM file instead of a new one")
		csrFile        = fs.String("csr", "", "finalize with the CSR in this PEM or DER file (no key is stored)")
		profile        = fs.String("profile", "", "certificate profile to ask the CA for")
		preferredChain = fs.String("preferred-chain", "", "issuer common name of the chain to prefer when the CA offers several")
		names          listFlag
	)
	c.register(fs, env)
	sf.register(fs)
	fs.Var(&names, "d", "a name (DNS name, *.wildcard or IP address) for the certificate; repeatable, or give names as arguments")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: certkeeper obtain [flags] NAME...")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	names = append(pos, names...)
	ids, err := issue.ParseIdentifiers(names...)
	if err != nil {
		return usageError{err.Error()}
	}
	set, err := sf.prepare(ctx, env)
	if err != nil {
		return err
	}
	defer set.Close()
	solvers, pref := set.Solvers, set.Preference
	kt, err := keys.ParseType(*keyType)
	if err != nil {
		return usageError{err.Error()}
	}
	req := issue.Request{Identifiers: ids, KeyType: kt, Profile: *profile, PreferredChain: *preferredChain}
	if *keyFile != "" {
		if req.Key, err = readKey(*keyFile); err != nil {
			return err
		}
	}
	if *csrFile != "" {
		if req.CSR, err = readCSR(*csrFile); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cl, certs, err := c.open()
	if err != nil {
		return err
	}
	acct, err := c.account(ctx, cl, certs, true)
	if err != nil {
		return err
	}
	is := &issue.Issuer{Client: cl, Account: acct, Solvers: solvers, Preference: pref, Logger: c.logger()}
	res, cert, err := obtainAndStore(ctx, is, certs, req)
	if err != nil {
		return err
	}
	if !c.quiet {
		printf(env.Stdout, "obtained %s (%s), valid until %s\n", res.Name, strings.Join(res.Identifiers, ", "), cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// obtainAndStore runs an order and saves the result.
func obtainAndStore(ctx context.Context, is *issue.Issuer, certs *store.Certs, req issue.Request) (store.Resource, *issue.Certificate, error) {
	cert, err := is.Obtain(ctx, req)
	if err != nil {
		return store.Resource{}, nil, err
	}
	res := store.Resource{
		Name:       req.Identifiers[0].Value,
		CA:         is.Client.DirectoryURL,
		CertURL:    cert.Chain.URL,
		ChainPEM:   cert.Chain.PEM,
		Profile:    req.Profile,
		ObtainedAt: time.Now().UTC(),
	}
	for _, id := range cert.Identifiers {
		res.Identifiers = append(res.Identifiers, id.Value)
	}
	if cert.Key != nil {
		if res.KeyPEM, err = keys.MarshalPEM(cert.Key); err != nil {
			return store.Resource{}, nil, err
		}
	}
	if err := certs.SaveCertificate(ctx, res); err != nil {
		return store.Resource{}, nil, fmt.Errorf("certificate obtained but not stored: %w", err)
	}
	return res, cert, nil
}

func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return keys.ParsePEM(data)
}

func readCSR(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(data); b != nil {
		data = b.Bytes
	}
	if _, err := x509.ParseCertificateRequest(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

func decodeBase64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(s), "="))
}
