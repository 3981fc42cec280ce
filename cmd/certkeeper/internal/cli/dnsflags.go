package cli

import (
	"net/http"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/solver/solverset"
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
	zones          listFlag
	ttl            time.Duration

	fs *flagSet // reports which flags were given
}

// The flags' defaults, which a Config leaves out (zero means the same).
const (
	defaultTSIGAlgorithm = "hmac-sha256"
	defaultNSPort        = 53
	defaultCheckTimeout  = 2 * time.Minute
	defaultCheckInterval = 2 * time.Second
	defaultTTL           = time.Minute
)

func (d *dnsFlags) register(fs *flagSet) {
	d.fs = fs
	fs.String(&d.provider, "dns-provider", "", "DNS challenges: write TXT records with rfc2136, exec, webhook or acme-dns (see -dns-* flags)")
	fs.String(&d.server, "dns-server", "", "rfc2136: the primary server, HOST:PORT")
	fs.String(&d.tsigKeyFile, "tsig-key-file", "", "rfc2136: BIND key file (tsig-keygen output) with the TSIG key")
	fs.String(&d.tsigName, "tsig-name", "", "rfc2136: TSIG key name (instead of -tsig-key-file)")
	fs.String(&d.tsigAlgorithm, "tsig-algorithm", defaultTSIGAlgorithm, "rfc2136: TSIG algorithm: hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha224, hmac-sha1")
	fs.String(&d.tsigSecretFile, "tsig-secret-file", "", "rfc2136: file holding the base64 TSIG secret (or set $CERTKEEPER_TSIG_SECRET)")
	fs.String(&d.exec, "dns-exec", "", "exec: run \"CMD present|cleanup FQDN VALUE\", lego's exec convention (zone in $CERTKEEPER_DNS_ZONE)")
	fs.String(&d.webhookURL, "dns-webhook", "", "webhook: POST {action, zone, fqdn, value} as JSON to this URL")
	fs.List(&d.webhookHeader, "dns-webhook-header", "webhook: \"Name: value\" header to send, repeatable (not Authorization: $CERTKEEPER_DNS_WEBHOOK_AUTHORIZATION sets it)")
	fs.String(&d.acmeDNSServer, "acme-dns-server", "", "acme-dns: API base URL, e.g. https://auth.acme-dns.io")
	fs.String(&d.acmeDNSAccounts, "acme-dns-accounts", "", "acme-dns: JSON file mapping each domain to its acme-dns account")
	fs.List(&d.resolvers, "dns-resolver", "DNS resolver (HOST:PORT) for zone, CNAME and NS lookups; repeatable (default: /etc/resolv.conf)")
	fs.Int(&d.nsPort, "dns-ns-port", defaultNSPort, "port on which to ask the zone's authoritative servers")
	fs.List(&d.checkServers, "dns-check-server", "ask these servers (HOST:PORT) in the propagation check instead of the zone's NS records; repeatable")
	fs.List(&d.checkResolvers, "dns-check-resolver", "recursive resolvers (HOST:PORT) that must also serve the record; repeatable")
	fs.Duration(&d.checkTimeout, "dns-propagation-timeout", defaultCheckTimeout, "give up if the record is not on every authoritative server after this long")
	fs.Duration(&d.checkInterval, "dns-propagation-interval", defaultCheckInterval, "pause between propagation checks")
	fs.Bool(&d.noCheck, "dns-no-propagation-check", false, "do not ask the authoritative servers; only wait -dns-delay")
	fs.Bool(&d.noCNAME, "dns-no-cname", false, "write _acme-challenge records at their own name, without following CNAMEs")
	fs.List(&d.zones, "dns-zone", "a zone the records are written in (e.g. example.com), so it is not looked up with SOA queries; repeatable")
	fs.Duration(&d.ttl, "dns-ttl", defaultTTL, "rfc2136: TTL of the records written")
}

// given reports whether the flag name was given (on the command line or
// in the environment).
func (d *dnsFlags) given(name string) bool { return d.fs != nil && d.fs.set(name) }

// config returns the dns01 table the flags describe; flags left at their
// defaults stay zero, so that the table holds only what was asked for.
func (d *dnsFlags) config() (solverset.DNS01, error) {
	c := solverset.DNS01{
		Provider:        d.provider,
		Server:          d.server,
		TSIGKeyFile:     d.tsigKeyFile,
		TSIGName:        d.tsigName,
		TSIGSecretFile:  d.tsigSecretFile,
		Exec:            d.exec,
		WebhookURL:      d.webhookURL,
		ACMEDNSServer:   d.acmeDNSServer,
		ACMEDNSAccounts: d.acmeDNSAccounts,
		Resolvers:       d.resolvers,
		CheckServers:    d.checkServers,
		CheckResolvers:  d.checkResolvers,
		NoCNAME:         d.noCNAME,
		Zones:           d.zones,
	}
	c.NoPropagationCheck = d.noCheck
	if d.tsigAlgorithm != defaultTSIGAlgorithm || d.given("tsig-algorithm") {
		// Given, even as the default, it is checked: it needs -tsig-name.
		c.TSIGAlgorithm = d.tsigAlgorithm
	}
	if d.nsPort != defaultNSPort {
		c.NSPort = d.nsPort
	}
	if d.checkTimeout != defaultCheckTimeout {
		c.PropagationTimeout = solverset.Duration(d.checkTimeout)
	}
	if d.checkInterval != defaultCheckInterval {
		c.PropagationInterval = solverset.Duration(d.checkInterval)
	}
	if d.ttl != defaultTTL {
		c.TTL = solverset.Duration(d.ttl)
	}
	for _, kv := range d.webhookHeader {
		k, v, ok := strings.Cut(kv, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return c, usagef("-dns-webhook-header %q: want \"Name: value\"", kv)
		}
		if http.CanonicalHeaderKey(k) == "Authorization" {
			return c, usagef("-dns-webhook-header %s: a secret does not go on the command line, where ps shows it: set $CERTKEEPER_DNS_WEBHOOK_AUTHORIZATION", k)
		}
		if c.WebhookHeaders == nil {
			c.WebhookHeaders = map[string]string{}
		}
		c.WebhookHeaders[k] = strings.TrimSpace(v)
	}
	return c, nil
}
