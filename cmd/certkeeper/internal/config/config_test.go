package config

import (
	"reflect"
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
	base := "store = \"/tmp/x\"\n[solvers]\nhttp-listen = \":80\"\n"
	cert := "[[certificate]]\ndomains = [\"a.example.com\"]\n"
	for _, tc := range []struct {
		name, in string
		want     []string // every one must be in the error
	}{
		{"unknown top-level key", "colour = \"blue\"\n" + base + cert, []string{"line 1: colour: unknown key"}},
		{"unknown key near a known one", "emial = \"a@example.test\"\n" + base + cert, []string{"line 1: emial: unknown key (did you mean email?)"}},
		{"solver key at the top level", "http-listen = \"127.0.0.1:80\"\n" + base + cert, []string{"line 1: http-listen: unknown key at the top level (it belongs in [solvers])"}},
		{"unknown nested key", base + cert + "[renewal]\ncheck-intervall = \"1h\"\n", []string{"line 7: renewal.check-intervall: unknown key (did you mean check-interval?)"}},
		{"unknown key in certificate", base + cert + cert + "nmaes = [\"x\"]\n", []string{"line 8: certificate[1].nmaes: unknown key (did you mean names?)"}},
		{"unknown solvers key", "store = \"/x\"\n[solvers]\nhttp-listn = \":80\"\n" + cert, []string{"solvers.http-listn: unknown key"}},
		{"bad duration", base + cert + "[renewal]\ncheck-interval = \"12 hours\"\n", []string{"renewal.check-interval", "invalid duration"}},
		{"bad duration in list", base + cert + "[renewal]\nbackoff = [\"1m\", \"soon\"]\n", []string{"renewal.backoff", "soon"}},
		{"duration as a number", base + cert + "[renewal]\ncheck-interval = 5\n", []string{"renewal.check-interval"}},
		{"bad solvers duration", "store = \"/x\"\n[solvers]\ndns-provider = \"exec\"\ndns-exec = \"/x\"\ndns-delay = \"soon\"\n" + cert, []string{"solvers.dns-delay", "invalid duration"}},
		{"solvers type", "store = \"/x\"\n[solvers]\nhttp-listen = 80\n" + cert, []string{"solvers.http-listen", "takes a string"}},
		{"missing names", base + "[[certificate]]\ncert-name = \"x\"\n", []string{"certificate[0].domains", "required"}},
		{"no certificates", base, []string{"no [[certificate]]"}},
		{"bad name", base + "[[certificate]]\ndomains = [\"bad..name\"]\n", []string{"certificate[0].domains"}},
		{"bad CA", "ca = \"lets-encrypt\"\n" + base + cert, []string{"ca: ", "lets-encrypt", "letsencrypt-staging"}},
		{"CA not a URL", "ca = \"ftp://ca.example\"\n" + base + cert, []string{"ca: "}},
		{"half EAB", "eab-kid = \"kid\"\n" + base + cert, []string{"eab-kid"}},
		{"missing store", "[solvers]\nhttp-listen = \":80\"\n" + cert, []string{"store: required"}},
		{"bad layout", "store = \"/x\"\nlayout = \"flat\"\n[solvers]\nhttp-listen = \":80\"\n" + cert, []string{"layout: "}},
		{"bad key type", base + cert + "key-type = \"ec512\"\n", []string{"certificate[0].key-type"}},
		{"no solver", "store = \"/x\"\n" + cert, []string{"no challenge solver"}},
		{"challenge without solver", base + cert + "challenges = [\"dns-01\"]\n", []string{"certificate[0].challenges", "dns-01"}},
		{"unknown challenge", base + cert + "challenges = [\"tls-sni-01\"]\n", []string{"tls-sni-01"}},
		{"wildcard without dns-01", base + "[[certificate]]\ndomains = [\"*.example.com\"]\n", []string{"wildcard", "dns-provider"}},
		{"duplicate name", base + cert + cert, []string{"certificate[1].cert-name", "a.example.com"}},
		{"hook without command", base + cert + "[[hook]]\nevents = [\"renewed\"]\n", []string{"hook[0].command"}},
		{"hook unknown event", base + cert + "[[hook]]\ncommand = \"x\"\nevents = [\"renewd\"]\n", []string{"hook[0].events", "renewd"}},
		{"hook on hook_failed, which runs none", base + cert + "[[hook]]\ncommand = \"x\"\nevents = [\"renewed\", \"hook_failed\"]\n", []string{"hook[0].events", "hook_failed runs no hook"}},
		{"http01 both", "store = \"/x\"\n[solvers]\nhttp-listen = \":80\"\nhttp-webroot = \"/w\"\n" + cert, []string{"solvers.http01", "not both"}},
		{"bad metrics", base + cert + "[metrics]\nlisten = \"9464\"\n", []string{"metrics.listen"}},
		{"renew fraction", base + cert + "[renewal]\nrenew-fraction = 1.5\n", []string{"renewal.renew-fraction"}},
		{"type mismatch", "agree-tos = \"yes\"\n" + base + cert, []string{"agree-tos"}},
		{"former and new", "store = \"/x\"\n[solvers]\nhttp-listen = \":80\"\n[solvers.http01]\nlisten = \":81\"\n" + cert, []string{"solvers.http01.listen: the same setting as http-listen"}},
		{"former and new certificate key", base + cert + "names = [\"b.example.com\"]\n", []string{"certificate[0].names: the former key of certificate[0].domains, which is also given"}},
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
	head := "store = \"/x\"\n"
	for _, tc := range []struct {
		table string
		check func(d *solverset.DNS01) bool
	}{
		{`dns-provider = "rfc2136"
dns-server = "ns1.example.com:53"
tsig-key-file = "/etc/certkeeper/tsig.key"
dns-ttl = "2m"
dns-resolvers = ["127.0.0.1:53"]
dns-ns-port = 5353
dns-check-servers = ["10.0.0.1:53"]
dns-check-resolvers = ["8.8.8.8:53"]
dns-propagation-timeout = "5m"
dns-propagation-interval = "1s"
dns-no-cname = true`, func(d *solverset.DNS01) bool {
			return d.Server == "ns1.example.com:53" && d.TSIGKeyFile != "" && d.TTL.D() == 2*time.Minute && d.NSPort == 5353 &&
				d.PropagationTimeout.D() == 5*time.Minute && d.NoCNAME && len(d.CheckResolvers) == 1
		}},
		{`dns-provider = "rfc2136"
dns-server = "ns1.example.com:53"
tsig-name = "acme-key"
tsig-algorithm = "hmac-sha512"
tsig-secret-env = "MY_TSIG_SECRET"`, func(d *solverset.DNS01) bool { return d.TSIGSecretEnv == "MY_TSIG_SECRET" }},
		{`dns-provider = "exec"
dns-exec = "/usr/local/bin/dns-hook"
dns-no-propagation-check = true
dns-delay = "30s"`, func(d *solverset.DNS01) bool {
			return d.Exec != "" && d.NoPropagationCheck && d.Delay.D() == 30*time.Second
		}},
		{`dns-provider = "webhook"
dns-webhook = "https://dns.example/acme"
dns-webhook-authorization-file = "/etc/certkeeper/webhook.auth"
dns-webhook-headers = { X-Zone = "example" }`, func(d *solverset.DNS01) bool { return d.WebhookHeaders["X-Zone"] == "example" }},
		{`dns-provider = "acme-dns"
acme-dns-server = "https://auth.acme-dns.io"
acme-dns-accounts = "/etc/certkeeper/acmedns.json"
dns-zones = ["example.com"]`, func(d *solverset.DNS01) bool { return d.ACMEDNSAccounts != "" && len(d.Zones) == 1 }},
	} {
		in := head + "[solvers]\n" + tc.table + "\n[[certificate]]\ndomains = [\"*.example.com\"]\n" +
			"[[certificate]]\ndomains = [\"own.example.com\"]\n[certificate.solvers]\n" + tc.table + "\n"
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
		if len(c.Deprecated) != 0 {
			t.Errorf("%s: deprecation notes %q for the keys of today", tc.table, c.Deprecated)
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
		`solvers.dns-exec: only used with dns-provider "exec", not "rfc2136"`,
		`solvers.dns-server: required with dns-provider "rfc2136": the primary server, host:port`,
		`solvers.tsig-secret-file: needs tsig-name`,
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) < 3 || strings.Join(got[:3], "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant first\n%s", err, strings.Join(want, "\n"))
	}
	if strings.Contains(err.Error(), "certificate[0].challenges") {
		t.Errorf("dns-persist-01 refused with a provider: %v", err)
	}
}

// goodNew is good in the keys of today: the flag names.
const goodNew = `
ca = "https://127.0.0.1:14000/dir"
ca-root = "/etc/certkeeper/pebble.pem"
email = "admin@example.com"
agree-tos = true
store = "/var/lib/certkeeper"

[renewal]
check-interval = "1h"
reissue-before = "720h"
backoff = ["1m", "10m"]

[metrics]
listen = "127.0.0.1:9464"

[solvers]
http-listen = ":80"
dns-provider = "exec"
dns-exec = "/usr/local/bin/dns-hook"
dns-no-propagation-check = true
dns-no-cname = true
dns-delay = "30s"

[[hook]]
events = ["renewed", "obtained"]
command = "/bin/systemctl"
args = ["reload", "nginx"]
timeout = "30s"

[[certificate]]
domains = ["example.com", "www.example.com"]

[[certificate]]
cert-name = "wild"
domains = ["*.example.com"]
challenges = ["dns-01"]
key-type = "rsa2048"
reuse-key = true

[[certificate]]
domains = ["alpn.example.com"]
[certificate.solvers]
tls-listen = ":443"
`

// The former keys still work: a file written with them reads as the same
// settings as one written with today's keys, and each former key is
// noted with the key to write instead.
func TestFormerKeys(t *testing.T) {
	old, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := Parse([]byte(goodNew))
	if err != nil {
		t.Fatal(err)
	}
	if len(cur.Deprecated) != 0 {
		t.Errorf("notes for today's keys: %q", cur.Deprecated)
	}
	notes := strings.Join(old.Deprecated, "\n")
	for _, want := range []string{"ca.url is deprecated: write ca", "ca.root is deprecated: write ca-root",
		"account.email is deprecated: write email", "account.agree_tos is deprecated: write agree-tos",
		"store.dir is deprecated: write store", "renewal.check_interval is deprecated: write renewal.check-interval",
		"solvers.http01.listen is deprecated: write http-listen in [solvers]", "solvers.dns01.hook is deprecated",
		"certificate.name is deprecated: write certificate.cert-name", "certificate.names is deprecated: write certificate.domains",
		"certificate.solvers.tlsalpn01.listen is deprecated: write tls-listen in [solvers]"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	// The former hook is the exec provider, as it worked.
	old.Deprecated = nil
	o, _ := old.Solvers.Canonical()
	old.Solvers = o
	if !reflect.DeepEqual(old, cur) {
		t.Errorf("former keys read as\n%+v\ntoday's as\n%+v", old, cur)
	}
}

// TestFormerStoreAndCA: the former [ca] and [store] tables share their
// names with today's ca and store keys, which take strings.
func TestFormerStoreAndCA(t *testing.T) {
	c, err := Parse([]byte("[ca]\nurl = \"letsencrypt\"\neab_kid = \"k\"\neab_hmac_file = \"/f\"\n[store]\nbackend = \"etcd\"\netcd_endpoints = [\"https://10.0.0.1:2379\"]\nlock_ttl = \"10s\"\n" +
		"[solvers]\nhttp-listen = \":80\"\n[[certificate]]\ndomains = [\"a.example.com\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var etcd struct {
		Endpoints []string `toml:"endpoints"`
		LockTTL   Duration `toml:"lock-ttl"`
	}
	if err := c.Store.Section(&etcd); err != nil {
		t.Fatal(err)
	}
	if c.CA.URL != "letsencrypt" || c.CA.EABKeyID != "k" || c.CA.EABHMACFile != "/f" || c.Store.Backend != "etcd" ||
		len(etcd.Endpoints) != 1 || etcd.LockTTL.D() != 10*time.Second {
		t.Errorf("read %+v %+v %+v", c.CA, c.Store, etcd)
	}
	if _, err := Parse([]byte("ca = 5\n")); err == nil || !strings.Contains(err.Error(), "ca takes a string") {
		t.Errorf("ca = 5: %v", err)
	}
}
