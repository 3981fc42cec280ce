package solverset

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/dnsprovider/acmedns"
	dnsexec "github.com/certkeeper/certkeeper/dnsprovider/exec"
	"github.com/certkeeper/certkeeper/dnsprovider/rfc2136"
	"github.com/certkeeper/certkeeper/dnsprovider/webhook"
	"github.com/certkeeper/certkeeper/solver/dns01"
	"github.com/certkeeper/certkeeper/solver/http01"
	"github.com/certkeeper/certkeeper/solver/tlsalpn01"
)

// full sets every field of a Config, whatever the provider rules say.
func full() Config {
	return Config{
		HTTP01:    &HTTP01{Listen: ":80", Webroot: "/var/www"},
		TLSALPN01: &TLSALPN01{Listen: "[::1]:443"},
		DNS01: &DNS01{
			Provider: "rfc2136", Hook: "/bin/hook", Delay: Duration(90 * time.Second),
			Server: "ns1.example.com:53", TSIGKeyFile: "/k", TSIGName: "acme-key", TSIGAlgorithm: "hmac-sha512",
			TSIGSecretFile: "/s", TSIGSecretEnv: "TSIG", TTL: Duration(time.Minute),
			Exec:       "/bin/exec",
			WebhookURL: "https://dns.example/hook", WebhookHeaders: map[string]string{"X-Zone": "example", "X-Team": "ops"},
			WebhookAuthorizationFile: "/a", WebhookAuthorizationEnv: "AUTH",
			ACMEDNSServer: "https://auth.acme-dns.io", ACMEDNSAccounts: "/acmedns.json",
			Resolvers: []string{"127.0.0.1:53", "[::1]:53"}, NSPort: 5353,
			CheckServers: []string{"10.0.0.1:53"}, CheckResolvers: []string{"8.8.8.8:53"},
			PropagationTimeout: Duration(5 * time.Minute), PropagationInterval: Duration(3 * time.Second),
			NoPropagationCheck: true, NoCNAME: true, Zones: []string{"example.com", "example.net."},
		},
	}
}

func TestJSONRoundTrip(t *testing.T) {
	in := full()
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Config
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip changed the Config:\n in %+v\nout %+v\njson %s", *in.DNS01, *out.DNS01, data)
	}
	for _, want := range []string{`"delay":"1m30s"`, `"propagation_timeout":"5m0s"`, `"tsig_secret_env":"TSIG"`, `"webhook_headers":{"X-Team":"ops","X-Zone":"example"}`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("JSON %s lacks %s", data, want)
		}
	}
	// omitempty: a small table stays small.
	data, _ = json.Marshal(Config{HTTP01: &HTTP01{Listen: ":80"}, DNS01: &DNS01{Hook: "/h"}})
	if string(data) != `{"http01":{"listen":":80"},"dns01":{"hook":"/h"}}` {
		t.Errorf("small Config as JSON: %s", data)
	}
}

// TestSameKeys checks that every field has the same snake_case key in
// JSON and TOML, with omitempty.
func TestSameKeys(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[Config](), reflect.TypeFor[HTTP01](), reflect.TypeFor[TLSALPN01](), reflect.TypeFor[DNS01]()} {
		for f := range typ.Fields() {
			j, _ := f.Tag.Lookup("json")
			tm, _ := f.Tag.Lookup("toml")
			name, opts, _ := strings.Cut(j, ",")
			if name != tm || opts != "omitempty" || name != strings.ToLower(name) {
				t.Errorf("%s.%s: json %q, toml %q", typ.Name(), f.Name, j, tm)
			}
		}
	}
}

// The TOML side of the keys (decoding the daemon's [solvers] tables) is
// tested in cmd/certkeeper/internal/config, the module that has a TOML
// parser.

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // each line of the error, in order
	}{
		{"empty", Config{}, nil},
		{"http01 neither", Config{HTTP01: &HTTP01{}}, []string{"http01: give listen (built-in server) or webroot"}},
		{"http01 both", Config{HTTP01: &HTTP01{Listen: ":80", Webroot: "/w"}}, []string{"http01: give listen or webroot, not both"}},
		{"bad listen", Config{HTTP01: &HTTP01{Listen: "80"}, TLSALPN01: &TLSALPN01{}}, []string{
			`http01.listen: "80" is not host:port (address 80: missing port in address)`, "tlsalpn01.listen: required"}},
		{"port out of range", Config{HTTP01: &HTTP01{Listen: "127.0.0.1:99999"}}, []string{`http01.listen: "127.0.0.1:99999": the port must be from 0 to 65535`}},
		{"one port for two", Config{HTTP01: &HTTP01{Listen: ":5000"}, TLSALPN01: &TLSALPN01{Listen: ":5000"}}, []string{`tlsalpn01.listen: ":5000" is also http01.listen: one port cannot serve both`}},
		{"no provider", Config{DNS01: &DNS01{}}, []string{"dns01.provider: required: rfc2136, exec, webhook, acme-dns"}},
		{"unknown provider", Config{DNS01: &DNS01{Provider: "route53"}}, []string{`dns01.provider: unknown provider "route53": want rfc2136, exec, webhook, acme-dns`}},
		{"rfc2136", Config{DNS01: &DNS01{Provider: "rfc2136", TSIGKeyFile: "/k", TSIGName: "n", Exec: "/x", TSIGAlgorithm: "md5"}}, []string{
			`dns01.exec: only used with provider "exec", not "rfc2136"`,
			`dns01.server: required with provider "rfc2136": the primary server, host:port`,
			"dns01.tsig_name: not used with tsig_key_file, which names the key, its algorithm and its secret",
			"dns01.tsig_algorithm: not used with tsig_key_file, which names the key, its algorithm and its secret",
			`dns01.tsig_algorithm: unknown algorithm "md5": want hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha224, hmac-sha1`}},
		{"tsig secret without name", Config{DNS01: &DNS01{Provider: "rfc2136", Server: "a:53", TSIGSecretFile: "/s"}}, []string{"dns01.tsig_secret_file: needs tsig_name"}},
		{"hook with propagation", Config{DNS01: &DNS01{Hook: "/h", Resolvers: []string{"x"}}}, []string{
			`dns01.resolvers: not used with hook, which checks no propagation: give provider "exec" and the program as exec instead of hook`,
			`dns01.resolvers: "x" is not host:port (address x: missing port in address)`}},
		{"webhook", Config{DNS01: &DNS01{Provider: "webhook", WebhookURL: "ftp://x", WebhookHeaders: map[string]string{"authorization": "Bearer x"}}}, []string{
			`dns01.webhook_url: "ftp://x" is not an http:// or https:// URL`,
			"dns01.webhook_headers: Authorization is a secret: give webhook_authorization_file or webhook_authorization_env instead"}},
		{"acme-dns", Config{DNS01: &DNS01{Provider: "acme-dns"}}, []string{
			`dns01.acme_dns_server: required with provider "acme-dns": the API's base URL`,
			`dns01.acme_dns_accounts: required with provider "acme-dns": the JSON file of accounts`}},
		{"exec", Config{DNS01: &DNS01{Provider: "exec", NSPort: 70000}}, []string{"dns01.ns_port: 70000 is not a port number", `dns01.exec: required with provider "exec": the program to run`}},
		{"zones", Config{DNS01: &DNS01{Provider: "exec", Exec: "/x", Zones: []string{"example.com", ".", "*.example.com", "ns1.example.com:53"}}}, []string{
			`dns01.zones: "." is not a zone name such as "example.com"`,
			`dns01.zones: "*.example.com" is not a zone name such as "example.com"`,
			`dns01.zones: "ns1.example.com:53" is not a zone name such as "example.com"`}},
		{"hook with zones", Config{DNS01: &DNS01{Hook: "/h", Zones: []string{"example.com"}}}, []string{
			`dns01.zones: not used with hook, which checks no propagation: give provider "exec" and the program as exec instead of hook`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
			}
			keyed, other := KeyErrors(err)
			if len(keyed) != len(tc.want) || len(other) != 0 {
				t.Errorf("KeyErrors: %d keyed, %v other", len(keyed), other)
			}
		})
	}
}

func TestTypes(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want []acme.ChallengeType
	}{
		{Config{}, nil},
		{Config{HTTP01: &HTTP01{Webroot: "/w"}, DNS01: &DNS01{Hook: "/h"}}, []acme.ChallengeType{"http-01", "dns-01", "dns-account-01", "dns-persist-01"}},
		{Config{TLSALPN01: &TLSALPN01{Listen: ":443"}, DNS01: &DNS01{Provider: "exec", Exec: "/x"}}, []acme.ChallengeType{"tls-alpn-01", "dns-01", "dns-account-01", "dns-persist-01"}},
	} {
		if got := tc.cfg.Types(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.cfg, got, tc.want)
		}
	}
}

// writeFile writes a file in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildEveryProvider(t *testing.T) {
	dir := t.TempDir()
	keyFile := writeFile(t, dir, "tsig.key", "key \"acme-key\" {\n\talgorithm hmac-sha512;\n\tsecret \"c2VjcmV0\";\n};\n", 0o600)
	secretFile := writeFile(t, dir, "secret", "c2VjcmV0\n", 0o600)
	authFile := writeFile(t, dir, "auth", "Bearer from-file\n", 0o600)
	accounts := writeFile(t, dir, "acmedns.json", `{"example.com": {"username": "u", "password": "p", "fulldomain": "x.auth.example", "subdomain": "x"}}`, 0o600)
	vars := map[string]string{DefaultTSIGSecretEnv: "ZW52", "DNS_TOKEN": "Bearer from-env", DefaultWebhookAuthorizationEnv: "Bearer default"}
	env := Env{Getenv: func(k string) string { return vars[k] }}
	dnsTypes := []acme.ChallengeType{acme.ChallengeDNS01, acme.ChallengeDNSAccount01, acme.ChallengeDNSPersist01}
	provider := func(t *testing.T, d DNS01) (*dns01.Solver, dns01.Provider) {
		t.Helper()
		set, err := Build(Config{DNS01: &d}, nil, env)
		if err != nil {
			t.Fatal(err)
		}
		s, ok := set.Solvers[acme.ChallengeDNS01].(*dns01.Solver)
		if !ok {
			t.Fatalf("dns-01 solver %T", set.Solvers[acme.ChallengeDNS01])
		}
		for _, ty := range dnsTypes {
			if set.Solvers[ty] != s {
				t.Errorf("%s not solved by the same solver", ty)
			}
		}
		return s, s.Provider
	}
	t.Run("rfc2136", func(t *testing.T) {
		s, p := provider(t, DNS01{Provider: "rfc2136", Server: "127.0.0.1:53", TSIGKeyFile: keyFile, TTL: Duration(2 * time.Minute),
			Resolvers: []string{"127.0.0.1:53"}, NSPort: 5353, CheckServers: []string{"127.0.0.2:53"}, CheckResolvers: []string{"127.0.0.3:53"},
			PropagationTimeout: Duration(time.Minute), PropagationInterval: Duration(time.Second), Delay: Duration(3 * time.Second), NoCNAME: true,
			Zones: []string{"example.com"}})
		want := &rfc2136.Provider{Server: "127.0.0.1:53", Key: rfc2136.Key{Name: "acme-key", Algorithm: "hmac-sha512", Secret: "c2VjcmV0"}, TTL: 2 * time.Minute}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("provider %+v", p)
		}
		wantProp := dns01.Propagation{Servers: []string{"127.0.0.2:53"}, Port: 5353, Resolvers: []string{"127.0.0.3:53"}, Delay: 3 * time.Second, Interval: time.Second, Timeout: time.Minute}
		if !reflect.DeepEqual(s.Propagation, wantProp) || !s.NoCNAME || s.NoPropagationCheck || !reflect.DeepEqual(s.Resolver.Servers, []string{"127.0.0.1:53"}) || !reflect.DeepEqual(s.Zones, []string{"example.com"}) {
			t.Errorf("solver %+v", s)
		}
		_, p = provider(t, DNS01{Provider: "rfc2136", Server: "127.0.0.1:53", TSIGName: "k", TSIGAlgorithm: "hmac-sha1", TSIGSecretFile: secretFile})
		if k := p.(*rfc2136.Provider).Key; k != (rfc2136.Key{Name: "k", Algorithm: "hmac-sha1", Secret: "c2VjcmV0"}) {
			t.Errorf("key from secret file %+v", k)
		}
		_, p = provider(t, DNS01{Provider: "rfc2136", Server: "127.0.0.1:53", TSIGName: "k"})
		if k := p.(*rfc2136.Provider).Key; k.Secret != "ZW52" {
			t.Errorf("key from $%s %+v", DefaultTSIGSecretEnv, k)
		}
		_, p = provider(t, DNS01{Provider: "rfc2136", Server: "127.0.0.1:53"})
		if k := p.(*rfc2136.Provider).Key; k != (rfc2136.Key{}) {
			t.Errorf("unsigned: key %+v", k)
		}
	})
	t.Run("exec", func(t *testing.T) {
		_, p := provider(t, DNS01{Provider: "exec", Exec: "/bin/true"})
		if e, ok := p.(*dnsexec.Provider); !ok || e.Command != "/bin/true" {
			t.Errorf("provider %+v", p)
		}
	})
	t.Run("webhook", func(t *testing.T) {
		for _, tc := range []struct {
			d    DNS01
			auth string
		}{
			{DNS01{WebhookAuthorizationFile: authFile}, "Bearer from-file"},
			{DNS01{WebhookAuthorizationEnv: "DNS_TOKEN"}, "Bearer from-env"},
			{DNS01{}, "Bearer default"},
		} {
			d := tc.d
			d.Provider, d.WebhookURL, d.WebhookHeaders = "webhook", "https://dns.example/acme", map[string]string{"x-zone": "example"}
			_, p := provider(t, d)
			w, ok := p.(*webhook.Provider)
			if !ok || w.URL != "https://dns.example/acme" || w.Header.Get("Authorization") != tc.auth || w.Header.Get("X-Zone") != "example" {
				t.Errorf("provider %+v, want Authorization %q", p, tc.auth)
			}
		}
	})
	t.Run("acme-dns", func(t *testing.T) {
		_, p := provider(t, DNS01{Provider: "acme-dns", ACMEDNSServer: "https://auth.example", ACMEDNSAccounts: accounts})
		a, ok := p.(*acmedns.Provider)
		if !ok || a.Client.Server != "https://auth.example" || a.Accounts["example.com"].Username != "u" {
			t.Errorf("provider %+v", p)
		}
	})
	t.Run("hook and built-in servers", func(t *testing.T) {
		set, err := Build(Config{HTTP01: &HTTP01{Listen: "127.0.0.1:0"}, TLSALPN01: &TLSALPN01{Listen: "127.0.0.1:0"}, DNS01: &DNS01{Hook: "/bin/true", Delay: Duration(time.Second)}},
			[]string{"dns-01", "http-01"}, env)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := set.Solvers[acme.ChallengeHTTP01].(*http01.Standalone); !ok {
			t.Errorf("http-01: %T", set.Solvers[acme.ChallengeHTTP01])
		}
		if _, ok := set.Solvers[acme.ChallengeTLSALPN01].(*tlsalpn01.Standalone); !ok {
			t.Errorf("tls-alpn-01: %T", set.Solvers[acme.ChallengeTLSALPN01])
		}
		if s, ok := set.Solvers[acme.ChallengeDNS01].(*dns01.Solver); !ok || s.Propagation.Delay != time.Second || !s.NoPropagationCheck {
			t.Errorf("dns-01: %+v", set.Solvers[acme.ChallengeDNS01])
		}
		if len(set.Solvers) != 5 || !reflect.DeepEqual(set.Preference, []acme.ChallengeType{"dns-01", "http-01"}) {
			t.Errorf("solvers %v, preference %v", set.Solvers, set.Preference)
		}
		set, _ = Build(Config{HTTP01: &HTTP01{Webroot: dir}}, nil, env)
		if w, ok := set.Solvers[acme.ChallengeHTTP01].(http01.Webroot); !ok || w.Dir != dir || set.Preference != nil {
			t.Errorf("webroot: %+v, preference %v", set.Solvers, set.Preference)
		}
	})
}

func TestBuildErrors(t *testing.T) {
	env := Env{}
	for _, tc := range []struct {
		cfg        Config
		challenges []string
		want       string
	}{
		{Config{HTTP01: &HTTP01{Listen: ":80"}}, []string{"dns-01", "tls-alpn-01"}, "challenge dns-01: no solver configured: add the dns01 table\nchallenge tls-alpn-01: no solver configured: add the tlsalpn01 table"},
		{Config{HTTP01: &HTTP01{Listen: ":80"}}, []string{"tls-sni-01"}, `challenge "tls-sni-01": unknown type`},
		{Config{DNS01: &DNS01{Provider: "rfc2136", Server: "a:53", TSIGName: "k"}}, nil, `dns01.tsig_secret_env: $CERTKEEPER_TSIG_SECRET is not set: tsig_name "k" needs its secret there or in tsig_secret_file`},
		{Config{DNS01: &DNS01{Provider: "rfc2136", Server: "a:53", TSIGKeyFile: "/nonexistent/k"}}, nil, "dns01.tsig_key_file: open /nonexistent/k: no such file or directory"},
		{Config{DNS01: &DNS01{Provider: "webhook", WebhookURL: "http://x", WebhookAuthorizationEnv: "NOPE"}}, nil, "dns01.webhook_authorization_env: $NOPE is not set"},
		{Config{HTTP01: &HTTP01{}}, nil, "http01: give listen"},
	} {
		_, err := Build(tc.cfg, tc.challenges, env)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Build(%+v, %v) = %v, want %q", tc.cfg, tc.challenges, err, tc.want)
		}
	}
}

// busyPort returns an address that a listener of the test holds.
func busyPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// TestPrepareReportsEverything has Prepare find a busy port, a missing
// webroot and a missing hook at once, and checks that the webroot is not
// created.
func TestPrepareReportsEverything(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	webroot := filepath.Join(dir, "typo", "html")
	busy := busyPort(t)
	set, err := Build(Config{
		HTTP01:    &HTTP01{Webroot: webroot},
		TLSALPN01: &TLSALPN01{Listen: busy},
		DNS01:     &DNS01{Hook: filepath.Join(dir, "no-such-hook")},
	}, nil, Env{})
	if err != nil {
		t.Fatal(err)
	}
	err = set.Prepare(ctx)
	keyed, other := KeyErrors(err)
	var keys []string
	for _, ke := range keyed {
		keys = append(keys, ke.Key)
	}
	if !reflect.DeepEqual(keys, []string{"http01.webroot", "dns01.hook", "tlsalpn01.listen"}) || len(other) > 0 {
		t.Fatalf("Prepare: keys %v, other %v: %v", keys, other, err)
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), busy+" is already in use") {
		t.Errorf("Prepare: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "typo")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Prepare created the webroot's parent (%v)", err)
	}
	if err := set.Close(); err != nil {
		t.Errorf("Close after a failed Prepare: %v", err)
	}

	// A program that is not executable, an unreadable file and an
	// unset variable.
	notExec := writeFile(t, dir, "hook.txt", "#!/bin/sh\n", 0o644)
	for _, tc := range []struct {
		d    DNS01
		want string
	}{
		{DNS01{Provider: "exec", Exec: notExec}, "dns01.exec: not an executable program"},
		{DNS01{Provider: "exec", Exec: "certkeeper-no-such-program"}, "dns01.exec: not an executable program"},
		{DNS01{Provider: "acme-dns", ACMEDNSServer: "https://a.example", ACMEDNSAccounts: dir}, "dns01.acme_dns_accounts: " + dir + " is a directory"},
		{DNS01{Provider: "rfc2136", Server: "a:53", TSIGName: "k", TSIGSecretEnv: "MY_SECRET"}, "dns01.tsig_secret_env: $MY_SECRET is not set"},
	} {
		err := Config{DNS01: &tc.d}.Check(ctx, Env{})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Check(%+v) = %v, want %q", tc.d, err, tc.want)
		}
	}
}

// TestPrepareHoldsPorts checks that the ports stay bound from Prepare to
// Close, and that Check releases them.
func TestPrepareHoldsPorts(t *testing.T) {
	ctx := t.Context()
	var zero Set
	if err := zero.Prepare(ctx); err != nil {
		t.Errorf("Prepare on a zero Set: %v", err)
	}
	if err := zero.Close(); err != nil {
		t.Errorf("Close on a zero Set: %v", err)
	}
	if err := (*Set)(nil).Close(); err != nil {
		t.Errorf("Close on nil: %v", err)
	}
	// Free ports, found by binding and releasing them.
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	httpAddr, tlsAddr := free(), free()
	cfg := Config{HTTP01: &HTTP01{Listen: httpAddr}, TLSALPN01: &TLSALPN01{Listen: tlsAddr}}
	if err := cfg.Check(ctx, Env{}); err != nil {
		t.Fatal(err)
	}
	set, err := Build(cfg, nil, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{httpAddr, tlsAddr} {
		if l, err := net.Listen("tcp", a); err == nil {
			l.Close()
			t.Errorf("%s is free after Prepare", a)
		}
	}
	if err := cfg.Check(ctx, Env{}); err == nil || !strings.Contains(err.Error(), "http01.listen: ") || !strings.Contains(err.Error(), "tlsalpn01.listen: ") {
		t.Errorf("Check while held: %v", err)
	}
	// The held server answers challenges.
	chal := acme.Challenge{Type: acme.ChallengeHTTP01, Token: "dG9rZW4", KeyAuthorization: "dG9rZW4.thumb",
		Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"}}
	if err := set.Solvers[acme.ChallengeHTTP01].Present(ctx, chal); err != nil {
		t.Fatal(err)
	}
	if err := set.Solvers[acme.ChallengeHTTP01].CleanUp(ctx, chal); err != nil {
		t.Fatal(err)
	}
	if err := set.Close(); err != nil {
		t.Fatal(err)
	}
	if err := set.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for _, a := range []string{httpAddr, tlsAddr} {
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("%s not released by Close: %v", a, err)
			continue
		}
		l.Close()
	}
}

// FuzzConfigJSON decodes what a lineage record may hold: whatever decodes
// validates without panicking and survives a round trip.
func FuzzConfigJSON(f *testing.F) {
	data, _ := json.Marshal(full())
	f.Add(data)
	f.Add([]byte(`{"dns01":{"hook":"/h","delay":"30s"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Config
		if json.Unmarshal(data, &c) != nil {
			return
		}
		_ = c.Validate()
		_ = c.Types()
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var c2 Config
		if err := json.Unmarshal(again, &c2); err != nil {
			t.Fatalf("%s: %v", again, err)
		}
		again2, _ := json.Marshal(c2)
		if string(again) != string(again2) {
			t.Errorf("not stable:\n%s\n%s", again, again2)
		}
	})
}

// Message writes the other settings an error names as the caller names
// them (a flag, a file's key), so no message says tsig_name to a user of
// -tsig-name.
func TestKeyErrorMessageRenames(t *testing.T) {
	c := Config{DNS01: &DNS01{Provider: ProviderRFC2136, Server: "127.0.0.1:53", TSIGAlgorithm: "hmac-sha256"}}
	keyed, _ := KeyErrors(c.Validate())
	if len(keyed) != 1 || keyed[0].Key != "dns01.tsig_algorithm" {
		t.Fatalf("errors %v, want one about dns01.tsig_algorithm", keyed)
	}
	ke := keyed[0]
	if got := ke.Err.Error(); got != "needs tsig_name" {
		t.Errorf("Err = %q, want %q", got, "needs tsig_name")
	}
	flag := func(s string) string {
		if s == "dns01.tsig_name" {
			return "-tsig-name"
		}
		return ""
	}
	if got := ke.Message(flag); got != "needs -tsig-name" {
		t.Errorf("Message = %q, want %q", got, "needs -tsig-name")
	}
	if got := ke.Message(func(string) string { return "" }); got != "needs tsig_name" {
		t.Errorf("Message naming nothing = %q, want Err's text", got)
	}
	other := &KeyError{Key: "x", Err: errors.New("plain")}
	if got := other.Message(flag); got != "plain" {
		t.Errorf("Message of a KeyError made outside = %q", got)
	}
}
