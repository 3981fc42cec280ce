package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/certkeeper/certkeeper/solver/solverset"
)

// The solverset.Config schema is shared by the flags, lineage records
// (JSON, tested in solver/solverset) and the daemon's [solvers] tables:
// these tests are its TOML side, here where the TOML parser is.

// TestSolversetTOMLRoundTrip checks that TOML writes the same keys as JSON
// and reads back every field.
func TestSolversetTOMLRoundTrip(t *testing.T) {
	in := solverset.Config{
		HTTP01:    &solverset.HTTP01{Listen: ":80", Webroot: "/var/www"},
		TLSALPN01: &solverset.TLSALPN01{Listen: "[::1]:443"},
		DNS01: &solverset.DNS01{
			Provider: "rfc2136", Hook: "/bin/hook", Delay: solverset.Duration(90 * time.Second),
			Server: "ns1.example.com:53", TSIGKeyFile: "/k", TSIGName: "acme-key", TSIGAlgorithm: "hmac-sha512",
			TSIGSecretFile: "/s", TSIGSecretEnv: "TSIG", TTL: solverset.Duration(time.Minute),
			Exec:       "/bin/exec",
			WebhookURL: "https://dns.example/hook", WebhookHeaders: map[string]string{"X-Zone": "example", "X-Team": "ops"},
			WebhookAuthorizationFile: "/a", WebhookAuthorizationEnv: "AUTH",
			ACMEDNSServer: "https://auth.acme-dns.io", ACMEDNSAccounts: "/acmedns.json",
			Resolvers: []string{"127.0.0.1:53", "[::1]:53"}, NSPort: 5353,
			CheckServers: []string{"10.0.0.1:53"}, CheckResolvers: []string{"8.8.8.8:53"},
			PropagationTimeout: solverset.Duration(5 * time.Minute), PropagationInterval: solverset.Duration(3 * time.Second),
			NoPropagationCheck: true, NoCNAME: true, Zones: []string{"example.com", "example.net."},
		},
	}
	var buf strings.Builder
	if err := toml.NewEncoder(&buf).Encode(in); err != nil {
		t.Fatal(err)
	}
	var fromTOML solverset.Config
	md, err := toml.Decode(buf.String(), &fromTOML)
	if err != nil || len(md.Undecoded()) > 0 {
		t.Fatalf("TOML: %v, undecoded %v", err, md.Undecoded())
	}
	if !reflect.DeepEqual(in, fromTOML) {
		t.Errorf("TOML round trip changed the Config:\n%s", buf.String())
	}
}

func TestSolversetTOMLEveryProvider(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want solverset.DNS01
	}{
		{`provider = "rfc2136"
server = "ns1.example.com:53"
tsig_name = "acme-key"
tsig_algorithm = "hmac-sha512"
tsig_secret_file = "/etc/certkeeper/tsig.secret"
ttl = "2m"
resolvers = ["127.0.0.1:53"]
ns_port = 5353
check_servers = ["10.0.0.1:53"]
check_resolvers = ["8.8.8.8:53"]
propagation_timeout = "5m"
propagation_interval = "1s"
no_cname = true
delay = "10s"`, solverset.DNS01{Provider: "rfc2136", Server: "ns1.example.com:53", TSIGName: "acme-key", TSIGAlgorithm: "hmac-sha512",
			TSIGSecretFile: "/etc/certkeeper/tsig.secret", TTL: solverset.Duration(2 * time.Minute), Resolvers: []string{"127.0.0.1:53"}, NSPort: 5353,
			CheckServers: []string{"10.0.0.1:53"}, CheckResolvers: []string{"8.8.8.8:53"}, PropagationTimeout: solverset.Duration(5 * time.Minute),
			PropagationInterval: solverset.Duration(time.Second), NoCNAME: true, Delay: solverset.Duration(10 * time.Second)}},
		{`provider = "rfc2136"
server = "ns1.example.com:53"
tsig_key_file = "/etc/certkeeper/tsig.key"`, solverset.DNS01{Provider: "rfc2136", Server: "ns1.example.com:53", TSIGKeyFile: "/etc/certkeeper/tsig.key"}},
		{`provider = "exec"
exec = "/usr/local/bin/dns-hook"
no_propagation_check = true
delay = "30s"`, solverset.DNS01{Provider: "exec", Exec: "/usr/local/bin/dns-hook", NoPropagationCheck: true, Delay: solverset.Duration(30 * time.Second)}},
		{`provider = "exec"
exec = "/usr/local/bin/dns-hook"
zones = ["example.com", "example.net."]`, solverset.DNS01{Provider: "exec", Exec: "/usr/local/bin/dns-hook", Zones: []string{"example.com", "example.net."}}},
		{`provider = "webhook"
webhook_url = "https://dns.example/acme"
webhook_authorization_env = "DNS_TOKEN"
[solvers.dns01.webhook_headers]
X-Zone = "example"`, solverset.DNS01{Provider: "webhook", WebhookURL: "https://dns.example/acme", WebhookAuthorizationEnv: "DNS_TOKEN",
			WebhookHeaders: map[string]string{"X-Zone": "example"}}},
		{`provider = "acme-dns"
acme_dns_server = "https://auth.acme-dns.io"
acme_dns_accounts = "/etc/certkeeper/acmedns.json"`, solverset.DNS01{Provider: "acme-dns", ACMEDNSServer: "https://auth.acme-dns.io", ACMEDNSAccounts: "/etc/certkeeper/acmedns.json"}},
		{`hook = "/usr/local/bin/dns-hook"
delay = "30s"`, solverset.DNS01{Hook: "/usr/local/bin/dns-hook", Delay: solverset.Duration(30 * time.Second)}},
	} {
		var file struct {
			Solvers solverset.Config `toml:"solvers"`
		}
		md, err := toml.Decode("[solvers.dns01]\n"+tc.in, &file)
		if err != nil || len(md.Undecoded()) > 0 {
			t.Fatalf("%s: %v, undecoded %v", tc.in, err, md.Undecoded())
		}
		if got := file.Solvers.DNS01; got == nil || !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
		if err := file.Solvers.Validate(); err != nil {
			t.Errorf("%s: %v", tc.in, err)
		}
	}
	var c solverset.Config
	if _, err := toml.Decode("[dns01]\ndelay = \"-1s\"\n", &c); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative delay: %v", err)
	}
}
