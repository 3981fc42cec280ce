package cli

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/solver/solverset"
)

// solverFlags configures the challenge solvers of obtain and renew: the
// flags fill a solverset.Config, which builds the solvers.
type solverFlags struct {
	prefer     listFlag
	webroot    string
	httpListen string
	tlsListen  string
	dnsHook    string
	dnsDelay   time.Duration
	dns        dnsFlags
}

func (s *solverFlags) register(fs *flagSet) {
	fs.category = "Challenges"
	fs.List(&s.prefer, "challenge", "challenge types to use, in order of preference (http-01, tls-alpn-01, dns-01, dns-account-01, dns-persist-01); default: every type configured below")
	fs.String(&s.webroot, "http-webroot", "", "http-01: write challenge files under DIR/.well-known/acme-challenge/ (DIR must exist)")
	fs.String(&s.httpListen, "http-listen", "", "http-01: answer on this address with a built-in server (e.g. :80, 127.0.0.1:5002, [::1]:80)")
	fs.String(&s.tlsListen, "tls-listen", "", "tls-alpn-01: answer on this address with a built-in server (e.g. :443)")
	fs.FormerDNSHook(&s.dnsHook)
	fs.Duration(&s.dnsDelay, "dns-delay", 0, "dns-01: wait this long after the record was added, before the propagation check (with -dns-no-propagation-check: instead of it)")
	fs.category = "DNS provider"
	s.dns.register(fs)
	fs.category = ""
}

// config returns the solver configuration the flags describe.
func (s *solverFlags) config() (solverset.Config, error) {
	var cfg solverset.Config
	if s.webroot != "" || s.httpListen != "" {
		cfg.HTTP01 = &solverset.HTTP01{Listen: s.httpListen, Webroot: s.webroot}
	}
	if s.tlsListen != "" {
		cfg.TLSALPN01 = &solverset.TLSALPN01{Listen: s.tlsListen}
	}
	if s.dnsHook != "" && (s.dns.provider != "" || s.dns.exec != "") {
		return cfg, usagef("-dns-hook is the former spelling of -dns-provider exec -dns-exec CMD: give only those")
	}
	d, err := s.dns.config()
	if err != nil {
		return cfg, err
	}
	if s.dnsHook != "" {
		// Read as it worked: no propagation check, no CNAME followed.
		d.Provider, d.Exec, d.NoPropagationCheck, d.NoCNAME = "exec", s.dnsHook, true, true
	}
	if d.Provider != "" || !isZero(d) {
		d.Delay = solverset.Duration(s.dnsDelay)
		cfg.DNS01 = &d
	}
	return cfg, nil
}

func isZero(d solverset.DNS01) bool {
	return d.Server == "" && d.TSIGKeyFile == "" && d.TSIGName == "" && d.TSIGAlgorithm == "" && d.TSIGSecretFile == "" &&
		d.TTL == 0 && d.Exec == "" && d.WebhookURL == "" && len(d.WebhookHeaders) == 0 && d.ACMEDNSServer == "" &&
		d.ACMEDNSAccounts == "" && len(d.Resolvers) == 0 && d.NSPort == 0 && len(d.CheckServers) == 0 &&
		len(d.CheckResolvers) == 0 && d.PropagationTimeout == 0 && d.PropagationInterval == 0 && !d.NoPropagationCheck && !d.NoCNAME && len(d.Zones) == 0
}

// build makes the solvers of the flags. Every problem is a usage error,
// named by its flag.
func (s *solverFlags) build(env Env) (*solverset.Set, error) {
	cfg, err := s.config()
	if err != nil {
		return nil, err
	}
	if cfg == (solverset.Config{}) {
		return nil, usagef("no challenge solver configured: give -http-listen, -http-webroot, -tls-listen or -dns-provider")
	}
	for _, p := range s.prefer {
		if !slices.Contains(cfg.Types(), acme.ChallengeType(p)) {
			return nil, usagef("-challenge %s: no solver for it is configured", p)
		}
	}
	set, err := solverset.Build(cfg, s.prefer, solverEnv(env))
	if err != nil {
		return nil, usageError{flagErrors(err)}
	}
	return set, nil
}

// prepare builds the solvers and runs their local checks (ports bound
// and held, webroot, programs, files, secrets) before any request to the
// CA; the caller closes the set.
func (s *solverFlags) prepare(ctx context.Context, env Env) (*solverset.Set, error) {
	set, err := s.build(env)
	if err != nil {
		return nil, err
	}
	if err := set.Prepare(ctx); err != nil {
		return nil, errors.New(flagErrors(err))
	}
	return set, nil
}

// solverEnv is what solverset takes from the program; its errors name
// the flags.
func solverEnv(env Env) solverset.Env {
	return solverset.Env{Getenv: env.Getenv, Output: env.Stderr, Environ: env.environ(), Names: flagOf}
}

// flagOf names the flag of a solverset key, "" if it has none.
func flagOf(key string) string {
	switch key {
	case "http01":
		return "-http-listen/-http-webroot"
	case "http01.listen":
		return "-http-listen"
	case "http01.webroot":
		return "-http-webroot"
	case "tlsalpn01.listen":
		return "-tls-listen"
	case "dns01.hook":
		return "-dns-hook (-dns-exec)"
	case "dns01.delay":
		return "-dns-delay"
	case "dns01.provider":
		return "-dns-provider"
	case "dns01.server":
		return "-dns-server"
	case "dns01.tsig_key_file":
		return "-tsig-key-file"
	case "dns01.tsig_name":
		return "-tsig-name"
	case "dns01.tsig_algorithm":
		return "-tsig-algorithm"
	case "dns01.tsig_secret_file", "dns01.tsig_secret_env":
		return "-tsig-secret-file"
	case "dns01.ttl":
		return "-dns-ttl"
	case "dns01.exec":
		return "-dns-exec"
	case "dns01.webhook_url":
		return "-dns-webhook"
	case "dns01.webhook_headers":
		return "-dns-webhook-header"
	case "dns01.webhook_authorization_env", "dns01.webhook_authorization_file":
		return "$CERTKEEPER_DNS_WEBHOOK_AUTHORIZATION"
	case "dns01.acme_dns_server":
		return "-acme-dns-server"
	case "dns01.acme_dns_accounts":
		return "-acme-dns-accounts"
	case "dns01.resolvers":
		return "-dns-resolver"
	case "dns01.ns_port":
		return "-dns-ns-port"
	case "dns01.check_servers":
		return "-dns-check-server"
	case "dns01.check_resolvers":
		return "-dns-check-resolver"
	case "dns01.propagation_timeout":
		return "-dns-propagation-timeout"
	case "dns01.propagation_interval":
		return "-dns-propagation-interval"
	case "dns01.no_propagation_check":
		return "-dns-no-propagation-check"
	case "dns01.no_cname":
		return "-dns-no-cname"
	case "dns01.zones":
		return "-dns-zone"
	}
	return ""
}

// flagErrors writes solverset's errors with flag names for keys, one per
// line.
func flagErrors(err error) string {
	keyed, other := solverset.KeyErrors(err)
	var lines []string
	for _, ke := range keyed {
		name := flagOf(ke.Key)
		if name == "" {
			name = ke.Key
		}
		lines = append(lines, name+": "+ke.Message(flagOf))
	}
	for _, e := range other {
		lines = append(lines, e.Error())
	}
	return strings.Join(lines, "\n")
}
