package solverset

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/dnsprovider/acmedns"
	dnsexec "github.com/certkeeper/certkeeper/dnsprovider/exec"
	"github.com/certkeeper/certkeeper/dnsprovider/rfc2136"
	"github.com/certkeeper/certkeeper/dnsprovider/webhook"
	"github.com/certkeeper/certkeeper/solver/dns01"
	"github.com/certkeeper/certkeeper/solver/http01"
	"github.com/certkeeper/certkeeper/solver/tlsalpn01"
)

// Build makes the solvers cfg describes. challenges, if not empty, are
// the challenge types allowed in order of preference ("http-01",
// "tls-alpn-01", "dns-01", "dns-account-01", "dns-persist-01"); each must
// be configured, else the error names the table to add. Build validates
// cfg (Validate) and reads the secrets it names (files, and variables
// through env.Getenv); it neither binds ports nor runs anything: call
// Set.Prepare for the local checks before ordering. Errors are joined,
// each a *KeyError naming its setting where there is one.
func Build(cfg Config, challenges []string, env Env) (*Set, error) {
	s, err := build(cfg, challenges, env)
	return s, env.named(err)
}

func build(cfg Config, challenges []string, env Env) (*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pref, err := cfg.checkChallenges(challenges)
	if err != nil {
		return nil, err
	}
	// The Set keeps cfg as written, so that Prepare names the keys the
	// user wrote.
	s := &Set{Solvers: map[acme.ChallengeType]challenge.Solver{}, Preference: pref, cfg: cfg, env: env}
	cfg, _ = cfg.Canonical()
	if h := cfg.HTTP01; h != nil {
		if h.Webroot != "" {
			s.Solvers[acme.ChallengeHTTP01] = http01.Webroot{Dir: h.Webroot}
		} else {
			st := &http01.Standalone{Addr: h.Listen, Logger: env.Logger}
			s.Solvers[acme.ChallengeHTTP01] = st
			s.servers = append(s.servers, server{"http01.listen", st})
		}
	}
	if t := cfg.TLSALPN01; t != nil {
		st := &tlsalpn01.Standalone{Addr: t.Listen, Logger: env.Logger}
		s.Solvers[acme.ChallengeTLSALPN01] = st
		s.servers = append(s.servers, server{"tlsalpn01.listen", st})
	}
	if d := cfg.DNS01; d != nil {
		p, err := d.newProvider(env)
		if err != nil {
			return nil, err
		}
		sol := d.solver(p)
		sol.Logger = env.Logger
		if env.Names != nil {
			sol.Names = func(field string) string { return env.Names(solverField(field)) }
		}
		for _, t := range []acme.ChallengeType{acme.ChallengeDNS01, acme.ChallengeDNSAccount01, acme.ChallengeDNSPersist01} {
			s.Solvers[t] = sol
		}
	}
	return s, nil
}

// solverField is the setting of a dns01.Solver field its errors name
// (dns01.Solver.Names).
func solverField(field string) string {
	switch field {
	case "Zones":
		return "dns01.zones"
	case "Propagation.Servers":
		return "dns01.check_servers"
	case "NoPropagationCheck":
		return "dns01.no_propagation_check"
	}
	return ""
}

// solver wraps p with the lookup and propagation settings.
func (d *DNS01) solver(p dns01.Provider) *dns01.Solver {
	return &dns01.Solver{
		Provider: p,
		Resolver: dns01.Resolver{Servers: d.Resolvers},
		NoCNAME:  d.NoCNAME,
		Zones:    d.Zones,
		Propagation: dns01.Propagation{
			Servers:   d.CheckServers,
			Port:      d.NSPort,
			Resolvers: d.CheckResolvers,
			Delay:     d.Delay.D(),
			Interval:  d.PropagationInterval.D(),
			Timeout:   d.PropagationTimeout.D(),
		},
		NoPropagationCheck: d.NoPropagationCheck,
	}
}

// newProvider makes the provider of a validated table, reading its
// secrets.
func (d *DNS01) newProvider(env Env) (dns01.Provider, error) {
	switch d.provider() {
	case ProviderRFC2136:
		key, err := d.tsigKey(env)
		if err != nil {
			return nil, err
		}
		return &rfc2136.Provider{Server: d.Server, Key: key, TTL: d.TTL.D()}, nil
	case ProviderExec:
		return &dnsexec.Provider{Command: d.Exec, Output: env.Output, Env: env.Environ, Unset: d.secretEnv()}, nil
	case ProviderWebhook:
		h := http.Header{}
		for k, v := range d.WebhookHeaders {
			h.Set(k, v)
		}
		a, err := d.webhookAuthorization(env)
		if err != nil {
			return nil, err
		}
		if a != "" {
			h.Set("Authorization", a)
		}
		return &webhook.Provider{URL: d.WebhookURL, Header: h}, nil
	case ProviderACMEDNS:
		data, err := os.ReadFile(d.ACMEDNSAccounts)
		if err != nil {
			return nil, &KeyError{Key: "dns01.acme_dns_accounts", Err: err}
		}
		accts, err := acmedns.LoadAccounts(data)
		if err != nil {
			return nil, &KeyError{Key: "dns01.acme_dns_accounts", Err: err}
		}
		return &acmedns.Provider{Client: &acmedns.Client{Server: d.ACMEDNSServer}, Accounts: accts}, nil
	}
	return nil, fmt.Errorf("dns01.provider: %q has no builder", d.Provider) // Validate lets none through
}

// secretEnv names the variables this table reads secrets from, which
// hook programs do not get (beyond internal/secenv's own list).
func (d *DNS01) secretEnv() []string {
	return []string{d.tsigSecretEnv(), d.WebhookAuthorizationEnv}
}

// SecretEnv names the variables cfg reads secrets from: a program
// passes them to manager.Config.SecretEnv so that hooks do not get them.
func (cfg Config) SecretEnv() []string {
	if cfg.DNS01 == nil {
		return nil
	}
	return cfg.DNS01.secretEnv()
}

// SecretEnv names the variables the Set's configuration reads secrets
// from (Config.SecretEnv).
func (s *Set) SecretEnv() []string { return s.cfg.SecretEnv() }

// tsigSecretEnv is the variable that holds TSIGName's secret.
func (d *DNS01) tsigSecretEnv() string {
	if d.TSIGSecretEnv != "" {
		return d.TSIGSecretEnv
	}
	return DefaultTSIGSecretEnv
}

// tsigKey reads the TSIG key from TSIGKeyFile, or TSIGName's secret from
// TSIGSecretFile or the environment. No key means unsigned updates, for
// servers that allow them by address.
func (d *DNS01) tsigKey(env Env) (rfc2136.Key, error) {
	if d.TSIGKeyFile != "" {
		data, err := os.ReadFile(d.TSIGKeyFile)
		if err != nil {
			return rfc2136.Key{}, &KeyError{Key: "dns01.tsig_key_file", Err: err}
		}
		k, err := rfc2136.ParseKeyFile(data)
		if err != nil {
			return rfc2136.Key{}, &KeyError{Key: "dns01.tsig_key_file", Err: err}
		}
		return k, nil
	}
	if d.TSIGName == "" {
		return rfc2136.Key{}, nil
	}
	var secret string
	if d.TSIGSecretFile != "" {
		data, err := os.ReadFile(d.TSIGSecretFile)
		if err != nil {
			return rfc2136.Key{}, &KeyError{Key: "dns01.tsig_secret_file", Err: err}
		}
		secret = strings.TrimSpace(string(data))
		if secret == "" {
			return rfc2136.Key{}, keyErr("dns01.tsig_secret_file", "%s is empty", d.TSIGSecretFile)
		}
	} else if secret = env.getenv(d.tsigSecretEnv()); secret == "" {
		return rfc2136.Key{}, d.tsigSecretMissing()
	}
	return rfc2136.Key{Name: d.TSIGName, Algorithm: d.TSIGAlgorithm, Secret: secret}, nil
}

func (d *DNS01) tsigSecretMissing() error {
	return keyErr("dns01.tsig_secret_env", "$%s is not set: %s %q needs its secret there or in %s", d.tsigSecretEnv(), ref("dns01.tsig_name"), d.TSIGName, ref("dns01.tsig_secret_file"))
}

// webhookAuthorization reads the Authorization header's value, "" for
// none.
func (d *DNS01) webhookAuthorization(env Env) (string, error) {
	if d.WebhookAuthorizationFile != "" {
		data, err := os.ReadFile(d.WebhookAuthorizationFile)
		if err != nil {
			return "", &KeyError{Key: "dns01.webhook_authorization_file", Err: err}
		}
		return strings.TrimSpace(string(data)), nil
	}
	if d.WebhookAuthorizationEnv != "" {
		a := env.getenv(d.WebhookAuthorizationEnv)
		if a == "" {
			return "", keyErr("dns01.webhook_authorization_env", "$%s is not set", d.WebhookAuthorizationEnv)
		}
		return a, nil
	}
	return env.getenv(DefaultWebhookAuthorizationEnv), nil
}
