package config

import (
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/solver/solverset"
)

const good = `
[ca]
url = "https://127.0.0.1:14000/dir"
root = "/etc/certkeeper/pebble.pem"

[account]
email = "admin@example.com"
agree_tos = true

[store]
dir = "/var/lib/certkeeper"

[renewal]
check_interval = "1h"
reissue_before = "720h"
backoff = ["1m", "10m"]

[metrics]
listen = "127.0.0.1:9464"

[solvers.http01]
listen = ":80"

[solvers.dns01]
hook = "/usr/local/bin/dns-hook"
delay = "30s"

[[hook]]
events = ["renewed", "obtained"]
command = "/bin/systemctl"
args = ["reload", "nginx"]
timeout = "30s"

[[certificate]]
names = ["example.com", "www.example.com"]

[[certificate]]
name = "wild"
names = ["*.example.com"]
challenges = ["dns-01"]
key_type = "rsa2048"
reuse_key = true

[[certificate]]
names = ["alpn.example.com"]
[certificate.solvers.tlsalpn01]
listen = ":443"
`

func TestParseGood(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Renewal.CheckInterval.D() != time.Hour || len(c.Renewal.Backoff) != 2 || c.Renewal.Backoff[1].D() != 10*time.Minute {
		t.Errorf("renewal = %+v", c.Renewal)
	}
	if len(c.Certs) != 3 || c.Certs[0].Name != "example.com" || c.Certs[1].Name != "wild" || !*c.Certs[1].ReuseKey || *c.Certs[0].ReuseKey {
		t.Errorf("certs = %+v", c.Certs)
	}
	if c.Store.Layout != "standard" || c.Account.KeyType != "ec256" {
		t.Errorf("defaults not filled: %+v %+v", c.Store, c.Account)
	}
	if c.CA.DirectoryURL() != "https://127.0.0.1:14000/dir" {
		t.Errorf("directory URL %q", c.CA.DirectoryURL())
	}
	if got := c.Certs[2].Solvers.Types(); len(got) != 1 || got[0] != "tls-alpn-01" {
		t.Errorf("per-certificate solvers %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	base := "[store]\ndir = \"/tmp/x\"\n[solvers.http01]\nlisten = \":80\"\n"
	cert := "[[certificate]]\nnames = [\"a.example.com\"]\n"
	for _, tc := range []struct {
		name, in string
		want     []string // every one must be in the error
	}{
		{"unknown top-level key", base + cert + "colour = \"blue\"\n", []string{"unknown key", "colour"}},
		{"unknown nested key", base + cert + "[renewal]\ncheck_intervall = \"1h\"\n", []string{"unknown key", "renewal.check_intervall"}},
		{"unknown key in certificate", base + cert + "nmaes = [\"x\"]\n", []string{"certificate.nmaes"}},
		{"bad duration", base + cert + "[renewal]\ncheck_interval = \"12 hours\"\n", []string{"renewal.check_interval", "invalid duration"}},
		{"bad duration in list", base + cert + "[renewal]\nbackoff = [\"1m\", \"soon\"]\n", []string{"renewal.backoff", "soon"}},
		{"duration as a number", base + cert + "[renewal]\ncheck_interval = 5\n", []string{"renewal.check_interval"}},
		{"missing names", base + "[[certificate]]\nname = \"x\"\n", []string{"certificate[0].names", "required"}},
		{"no certificates", base, []string{"no [[certificate]]"}},
		{"bad name", base + "[[certificate]]\nnames = [\"bad..name\"]\n", []string{"certificate[0].names"}},
		{"bad CA", "[ca]\nurl = \"lets-encrypt\"\n" + base + cert, []string{"ca.url", "lets-encrypt", "letsencrypt-staging"}},
		{"CA not a URL", "[ca]\nurl = \"ftp://ca.example\"\n" + base + cert, []string{"ca.url"}},
		{"half EAB", "[ca]\neab_kid = \"kid\"\n" + base + cert, []string{"ca.eab_kid"}},
		{"missing store", "[solvers.http01]\nlisten = \":80\"\n" + cert, []string{"store.dir", "required"}},
		{"bad layout", "[store]\ndir = \"/x\"\nlayout = \"flat\"\n[solvers.http01]\nlisten = \":80\"\n" + cert, []string{"store.layout"}},
		{"bad key type", base + cert + "key_type = \"ec512\"\n", []string{"certificate[0].key_type"}},
		{"no solver", "[store]\ndir = \"/x\"\n" + cert, []string{"no challenge solver"}},
		{"challenge without solver", base + cert + "challenges = [\"dns-01\"]\n", []string{"certificate[0].challenges", "dns-01"}},
		{"unknown challenge", base + cert + "challenges = [\"tls-sni-01\"]\n", []string{"tls-sni-01"}},
		{"wildcard without dns-01", base + "[[certificate]]\nnames = [\"*.example.com\"]\n", []string{"wildcard", "dns01"}},
		{"duplicate name", base + cert + cert, []string{"certificate[1].name", "a.example.com"}},
		{"hook without command", base + cert + "[[hook]]\nevents = [\"renewed\"]\n", []string{"hook[0].command"}},
		{"hook unknown event", base + cert + "[[hook]]\ncommand = \"x\"\nevents = [\"renewd\"]\n", []string{"hook[0].events", "renewd"}},
		{"http01 both", "[store]\ndir = \"/x\"\n[solvers.http01]\nlisten = \":80\"\nwebroot = \"/w\"\n" + cert, []string{"solvers.http01", "not both"}},
		{"bad metrics", base + cert + "[metrics]\nlisten = \"9464\"\n", []string{"metrics.listen"}},
		{"renew fraction", base + cert + "[renewal]\nrenew_fraction = 1.5\n", []string{"renewal.renew_fraction"}},
		{"type mismatch", base + cert + "[account]\nagree_tos = \"yes\"\n", []string{"account.agree_tos"}},
		{"syntax", "[store\n", []string{"toml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Parse(data)
	})
}

// TestSolversEveryProvider reads each DNS provider's table from a daemon
// file, top-level and per certificate.
func TestSolversEveryProvider(t *testing.T) {
	head := "[store]\ndir = \"/x\"\n"
	for _, tc := range []struct {
		table string
		check func(d *solverset.DNS01) bool
	}{
		{`provider = "rfc2136"
server = "ns1.example.com:53"
tsig_key_file = "/etc/certkeeper/tsig.key"
ttl = "2m"
resolvers = ["127.0.0.1:53"]
ns_port = 5353
check_servers = ["10.0.0.1:53"]
check_resolvers = ["8.8.8.8:53"]
propagation_timeout = "5m"
propagation_interval = "1s"
no_cname = true`, func(d *solverset.DNS01) bool {
			return d.Server == "ns1.example.com:53" && d.TSIGKeyFile != "" && d.TTL.D() == 2*time.Minute && d.NSPort == 5353 &&
				d.PropagationTimeout.D() == 5*time.Minute && d.NoCNAME && len(d.CheckResolvers) == 1
		}},
		{`provider = "rfc2136"
server = "ns1.example.com:53"
tsig_name = "acme-key"
tsig_algorithm = "hmac-sha512"
tsig_secret_env = "MY_TSIG_SECRET"`, func(d *solverset.DNS01) bool { return d.TSIGSecretEnv == "MY_TSIG_SECRET" }},
		{`provider = "exec"
exec = "/usr/local/bin/dns-hook"
no_propagation_check = true
delay = "30s"`, func(d *solverset.DNS01) bool {
			return d.Exec != "" && d.NoPropagationCheck && d.Delay.D() == 30*time.Second
		}},
		{`provider = "webhook"
webhook_url = "https://dns.example/acme"
webhook_authorization_file = "/etc/certkeeper/webhook.auth"
webhook_headers = { X-Zone = "example" }`, func(d *solverset.DNS01) bool { return d.WebhookHeaders["X-Zone"] == "example" }},
		{`provider = "acme-dns"
acme_dns_server = "https://auth.acme-dns.io"
acme_dns_accounts = "/etc/certkeeper/acmedns.json"`, func(d *solverset.DNS01) bool { return d.ACMEDNSAccounts != "" }},
	} {
		in := head + "[solvers.dns01]\n" + tc.table + "\n[[certificate]]\nnames = [\"*.example.com\"]\n" +
			"[[certificate]]\nnames = [\"own.example.com\"]\n[certificate.solvers.dns01]\n" + tc.table + "\n"
		c, err := Parse([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", tc.table, err)
			continue
		}
		if !tc.check(c.Solvers.DNS01) || !tc.check(c.Certs[1].Solvers.DNS01) {
			t.Errorf("%s: read %+v", tc.table, *c.Solvers.DNS01)
		}
		if got := c.Solvers.Types(); len(got) != 3 {
			t.Errorf("%s: types %v, want the three DNS challenges", tc.table, got)
		}
	}
}

func TestSolversErrors(t *testing.T) {
	in := `
[store]
dir = "/x"
[solvers.dns01]
provider = "rfc2136"
tsig_secret_file = "/s"
exec = "/bin/true"
[[certificate]]
names = ["a.example.com"]
challenges = ["dns-persist-01"]
[[certificate]]
names = ["b.example.com"]
challenges = ["dns-account-01"]
[certificate.solvers.dns01]
hook = "/bin/true"
`
	_, err := Parse([]byte(in))
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`solvers.dns01.exec: only used with provider "exec", not "rfc2136"`,
		`solvers.dns01.server: required with provider "rfc2136": the primary server, host:port`,
		`solvers.dns01.tsig_secret_file: needs tsig_name`,
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) < 3 || strings.Join(got[:3], "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant first\n%s", err, strings.Join(want, "\n"))
	}
	if !strings.Contains(err.Error(), "certificate[1].challenges: dns-account-01 has no solver in [certificate[1].solvers]") {
		t.Errorf("the hook's dns-account-01 not refused: %v", err)
	}
	if strings.Contains(err.Error(), "certificate[0].challenges") {
		t.Errorf("dns-persist-01 refused with a provider: %v", err)
	}
}
