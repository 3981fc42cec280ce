package config

import (
	"strings"
	"testing"
	"time"
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
