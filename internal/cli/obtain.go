package cli

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/solver/dns01"
	"github.com/certkeeper/certkeeper/solver/http01"
	"github.com/certkeeper/certkeeper/solver/tlsalpn01"
	"github.com/certkeeper/certkeeper/store"
)

// solverFlags configures the challenge solvers of obtain and renew.
type solverFlags struct {
	prefer     listFlag
	webroot    string
	httpListen string
	tlsListen  string
	dnsHook    string
	dnsDelay   time.Duration
	dns        dnsFlags
}

func (s *solverFlags) register(fs *flag.FlagSet) {
	fs.Var(&s.prefer, "challenge", "challenge types to use, in order of preference (http-01, tls-alpn-01, dns-01); default: every type configured below")
	fs.StringVar(&s.webroot, "http-webroot", "", "http-01: write challenge files under DIR/.well-known/acme-challenge/")
	fs.StringVar(&s.httpListen, "http-listen", "", "http-01: answer on this address with a built-in server (e.g. :80, 127.0.0.1:5002, [::1]:80)")
	fs.StringVar(&s.tlsListen, "tls-listen", "", "tls-alpn-01: answer on this address with a built-in server (e.g. :443)")
	fs.StringVar(&s.dnsHook, "dns-hook", "", "dns-01: run \"CMD present|cleanup RECORD-NAME VALUE\" to add and remove the TXT record")
	fs.DurationVar(&s.dnsDelay, "dns-delay", 0, "dns-01: wait this long after the hook added the record, for DNS propagation")
	s.dns.register(fs)
}

func (s *solverFlags) solvers(env Env) (map[acme.ChallengeType]challenge.Solver, []acme.ChallengeType, error) {
	m := map[acme.ChallengeType]challenge.Solver{}
	if s.webroot != "" && s.httpListen != "" {
		return nil, nil, usagef("-http-webroot and -http-listen both solve http-01: choose one")
	}
	if s.webroot != "" {
		m[acme.ChallengeHTTP01] = &http01.Webroot{Dir: s.webroot}
	}
	if s.httpListen != "" {
		m[acme.ChallengeHTTP01] = &http01.Standalone{Addr: s.httpListen}
	}
	if s.tlsListen != "" {
		m[acme.ChallengeTLSALPN01] = &tlsalpn01.Standalone{Addr: s.tlsListen}
	}
	if s.dnsHook != "" {
		hook := s.dnsHook
		run := func(op string) func(ctx context.Context, chal acme.Challenge) error {
			return func(ctx context.Context, chal acme.Challenge) error {
				name, value, err := challenge.RecordFor(chal)
				if err != nil {
					return err
				}
				cmd := exec.CommandContext(ctx, hook, op, name, value)
				cmd.Stdout, cmd.Stderr = env.Stderr, env.Stderr
				if err := cmd.Run(); err != nil {
					return fmt.Errorf("dns hook %s %s: %w", op, name, err)
				}
				return nil
			}
		}
		m[acme.ChallengeDNS01] = &dns01.Callback{PresentFunc: run("present"), CleanUpFunc: run("cleanup"), PropagationDelay: s.dnsDelay}
	}
	if err := s.dns.addSolvers(m, env, s.dnsDelay); err != nil {
		return nil, nil, err
	}
	if len(m) == 0 {
		return nil, nil, usagef("no challenge solver configured: give -http-listen, -http-webroot, -tls-listen, -dns-hook or -dns-provider")
	}
	var pref []acme.ChallengeType
	for _, p := range s.prefer {
		t := acme.ChallengeType(p)
		if m[t] == nil {
			return nil, nil, usagef("-challenge %s: no solver for it is configured", p)
		}
		pref = append(pref, t)
	}
	return m, pref, nil
}

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
	solvers, pref, err := sf.solvers(env)
	if err != nil {
		return err
	}
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
