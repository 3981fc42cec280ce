package cli

import (
	"flag"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/dnsprovider/acmedns"
	dnsexec "github.com/certkeeper/certkeeper/dnsprovider/exec"
	"github.com/certkeeper/certkeeper/dnsprovider/rfc2136"
	"github.com/certkeeper/certkeeper/dnsprovider/webhook"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// dnsFlags selects and configures a DNS provider for the DNS challenges
// (dns-01, dns-account-01, dns-persist-01) and the propagation check.
type dnsFlags struct {
	provider string

	server         string
	tsigKeyFile    string
	tsigName       string
	tsigAlgorithm  string
	tsigSecretFile string

	exec string

	webhookURL    string
	webhookHeader listFlag

	acmeDNSServer   string
	acmeDNSAccounts string

	resolvers      listFlag
	nsPort         int
	checkServers   listFlag
	checkResolvers listFlag
	checkTimeout   time.Duration
	checkInterval  time.Duration
	noCheck        bool
	noCNAME        bool
	ttl            time.Duration
}

func (d *dnsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.provider, "dns-provider", "", "DNS challenges: write TXT records with rfc2136, exec, webhook or acme-dns (see -dns-* flags)")
	fs.StringVar(&d.server, "dns-server", "", "rfc2136: the primary server, HOST:PORT")
	fs.StringVar(&d.tsigKeyFile, "tsig-key-file", "", "rfc2136: BIND key file (tsig-keygen output) with the TSIG key")
	fs.StringVar(&d.tsigName, "tsig-name", "", "rfc2136: TSIG key name (instead of -tsig-key-file)")
	fs.StringVar(&d.tsigAlgorithm, "tsig-algorithm", "hmac-sha256", "rfc2136: TSIG algorithm: hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha224, hmac-sha1")
	fs.StringVar(&d.tsigSecretFile, "tsig-secret-file", "", "rfc2136: file holding the base64 TSIG secret (or set $CERTKEEPER_TSIG_SECRET)")
	fs.StringVar(&d.exec, "dns-exec", "", "exec: run \"CMD present|cleanup FQDN VALUE\" (zone in $CERTKEEPER_DNS_ZONE)")
	fs.StringVar(&d.webhookURL, "dns-webhook", "", "webhook: POST {action, zone, fqdn, value} as JSON to this URL")
	fs.Var(&d.webhookHeader, "dns-webhook-header", "webhook: \"Name: value\" header to send, repeatable ($CERTKEEPER_DNS_WEBHOOK_AUTHORIZATION sets Authorization)")
	fs.StringVar(&d.acmeDNSServer, "acme-dns-server", "", "acme-dns: API base URL, e.g. https://auth.acme-dns.io")
	fs.StringVar(&d.acmeDNSAccounts, "acme-dns-accounts", "", "acme-dns: JSON file mapping each domain to its acme-dns account")
	fs.Var(&d.resolvers, "dns-resolver", "DNS resolver (HOST:PORT) for zone, CNAME and NS lookups; repeatable (default: /etc/resolv.conf)")
	fs.IntVar(&d.nsPort, "dns-ns-port", 53, "port on which to ask the zone's authoritative servers")
	fs.Var(&d.checkServers, "dns-check-server", "ask these servers (HOST:PORT) in the propagation check instead of the zone's NS records; repeatable")
	fs.Var(&d.checkResolvers, "dns-check-resolver", "recursive resolvers (HOST:PORT) that must also serve the record; repeatable")
	fs.DurationVar(&d.checkTimeout, "dns-propagation-timeout", 2*time.Minute, "give up if the record is not on every authoritative server after this long")
	fs.DurationVar(&d.checkInterval, "dns-propagation-interval", 2*time.Second, "pause between propagation checks")
	fs.BoolVar(&d.noCheck, "dns-no-propagation-check", false, "do not ask the authoritative servers; only wait -dns-delay")
	fs.BoolVar(&d.noCNAME, "dns-no-cname", false, "write _acme-challenge records at their own name, without following CNAMEs")
	fs.DurationVar(&d.ttl, "dns-ttl", time.Minute, "rfc2136: TTL of the records written")
}

// addSolvers puts a solver for the DNS challenge types in m when
// -dns-provider is given; delay is waited before the first propagation
// check (-dns-delay).
func (d *dnsFlags) addSolvers(m map[acme.ChallengeType]challenge.Solver, env Env, delay time.Duration) error {
	if d.provider == "" {
		for name, set := range map[string]bool{"-dns-server": d.server != "", "-dns-exec": d.exec != "", "-dns-webhook": d.webhookURL != "", "-acme-dns-server": d.acmeDNSServer != ""} {
			if set {
				return usagef("%s needs -dns-provider", name)
			}
		}
		return nil
	}
	if m[acme.ChallengeDNS01] != nil {
		return usagef("-dns-hook and -dns-provider both solve dns-01: choose one")
	}
	p, err := d.newProvider(env)
	if err != nil {
		return err
	}
	s := d.solver(p)
	s.Propagation.Delay = delay
	for _, t := range []acme.ChallengeType{acme.ChallengeDNS01, acme.ChallengeDNSAccount01, acme.ChallengeDNSPersist01} {
		m[t] = s
	}
	return nil
}

func (d *dnsFlags) solver(p dns01.Provider) *dns01.Solver {
	return &dns01.Solver{
		Provider: p,
		Resolver: dns01.Resolver{Servers: d.resolvers},
		NoCNAME:  d.noCNAME,
		Propagation: dns01.Propagation{
			Servers:   d.checkServers,
			Port:      d.nsPort,
			Resolvers: d.checkResolvers,
			Interval:  d.checkInterval,
			Timeout:   d.checkTimeout,
		},
		NoPropagationCheck: d.noCheck,
	}
}

func (d *dnsFlags) newProvider(env Env) (dns01.Provider, error) {
	switch d.provider {
	case "rfc2136":
		if d.server == "" {
			return nil, usagef("-dns-provider rfc2136 needs -dns-server HOST:PORT")
		}
		key, err := d.tsigKey(env)
		if err != nil {
			return nil, err
		}
		return &rfc2136.Provider{Server: d.server, Key: key, TTL: d.ttl}, nil
	case "exec":
		if d.exec == "" {
			return nil, usagef("-dns-provider exec needs -dns-exec CMD")
		}
		return &dnsexec.Provider{Command: d.exec, Output: env.Stderr}, nil
	case "webhook":
		if d.webhookURL == "" {
			return nil, usagef("-dns-provider webhook needs -dns-webhook URL")
		}
		h := http.Header{}
		for _, kv := range d.webhookHeader {
			k, v, ok := strings.Cut(kv, ":")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, usagef("-dns-webhook-header %q: want \"Name: value\"", kv)
			}
			h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		if a := env.Getenv("CERTKEEPER_DNS_WEBHOOK_AUTHORIZATION"); a != "" {
			h.Set("Authorization", a)
		}
		return &webhook.Provider{URL: d.webhookURL, Header: h}, nil
	case "acme-dns", "acmedns":
		if d.acmeDNSServer == "" || d.acmeDNSAccounts == "" {
			return nil, usagef("-dns-provider acme-dns needs -acme-dns-server URL and -acme-dns-accounts FILE")
		}
		data, err := os.ReadFile(d.acmeDNSAccounts)
		if err != nil {
			return nil, err
		}
		accts, err := acmedns.LoadAccounts(data)
		if err != nil {
			return nil, err
		}
		return &acmedns.Provider{Client: &acmedns.Client{Server: d.acmeDNSServer}, Accounts: accts}, nil
	default:
		return nil, usagef("unknown -dns-provider %q: want rfc2136, exec, webhook or acme-dns", d.provider)
	}
}

// tsigKey reads the TSIG key from -tsig-key-file, or from -tsig-name with
// the secret from -tsig-secret-file or $CERTKEEPER_TSIG_SECRET. Secrets
// are never taken on the command line, where ps shows them.
func (d *dnsFlags) tsigKey(env Env) (rfc2136.Key, error) {
	if d.tsigKeyFile != "" {
		if d.tsigName != "" || d.tsigSecretFile != "" {
			return rfc2136.Key{}, usagef("-tsig-key-file already names the key and its secret: drop -tsig-name and -tsig-secret-file")
		}
		data, err := os.ReadFile(d.tsigKeyFile)
		if err != nil {
			return rfc2136.Key{}, err
		}
		return rfc2136.ParseKeyFile(data)
	}
	if d.tsigName == "" {
		if d.tsigSecretFile != "" {
			return rfc2136.Key{}, usagef("-tsig-secret-file needs -tsig-name")
		}
		return rfc2136.Key{}, nil // unsigned updates, for servers that allow them by address
	}
	secret := env.Getenv("CERTKEEPER_TSIG_SECRET")
	if d.tsigSecretFile != "" {
		data, err := os.ReadFile(d.tsigSecretFile)
		if err != nil {
			return rfc2136.Key{}, err
		}
		secret = strings.TrimSpace(string(data))
	}
	if secret == "" {
		return rfc2136.Key{}, usagef("-tsig-name %s needs -tsig-secret-file or $CERTKEEPER_TSIG_SECRET", d.tsigName)
	}
	return rfc2136.Key{Name: d.tsigName, Algorithm: d.tsigAlgorithm, Secret: secret}, nil
}
