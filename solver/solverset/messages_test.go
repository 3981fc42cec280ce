package solverset

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
)

// fileKey names a setting as a front end with its own vocabulary would
// (here: "dns01.tsig_name" is "<tsig-name>"), so that a message naming a
// setting by its former (schema) name shows.
func fileKey(setting string) string {
	_, field, _ := strings.Cut(setting, ".")
	return "<" + strings.ReplaceAll(field, "_", "-") + ">"
}

// Every setting a message names besides its own key goes through
// Message's renaming: a user of the file's keys or of the flags never
// reads provider, exec or hook, the schema's words.
func TestMessagesNameOtherSettingsAsCallerDoes(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		key  string
		want string
	}{
		{Config{DNS01: &DNS01{Provider: "rfc2136", Server: "a:53", Exec: "/x"}}, "dns01.exec", `only used with <provider> "exec", not "rfc2136"`},
		{Config{DNS01: &DNS01{Provider: "rfc2136"}}, "dns01.server", `required with <provider> "rfc2136": the primary server, host:port`},
		{Config{DNS01: &DNS01{Provider: "exec"}}, "dns01.exec", `required with <provider> "exec": the program to run`},
		{Config{DNS01: &DNS01{Provider: "webhook"}}, "dns01.webhook_url", `required with <provider> "webhook"`},
		{Config{DNS01: &DNS01{Provider: "acme-dns", ACMEDNSAccounts: "/a"}}, "dns01.acme_dns_server", `required with <provider> "acme-dns": the API's base URL`},
		{Config{DNS01: &DNS01{Provider: "acme-dns", ACMEDNSServer: "https://a.example.test"}}, "dns01.acme_dns_accounts", `required with <provider> "acme-dns": the JSON file of accounts`},
		{Config{DNS01: &DNS01{Provider: "hook", Exec: "/x"}}, "dns01.provider", `"hook" is the former spelling of "exec": give <provider> "exec" and the program as <exec>`},
		{Config{DNS01: &DNS01{Provider: "rfc2136", Hook: "/h"}}, "dns01.hook", `the former spelling of <provider> "exec": not used with <provider> "rfc2136"`},
		{Config{DNS01: &DNS01{Provider: "exec", Hook: "/h", Exec: "/x"}}, "dns01.hook", `the former spelling of <exec>: give <exec> only`},
		{Config{DNS01: &DNS01{Hook: "/h", Zones: []string{"example.test"}}}, "dns01.zones", `not used with <hook>, which checks no propagation: give <provider> "exec" and the program as <exec> instead of <hook>`},
		{Config{DNS01: &DNS01{Provider: "rfc2136", Server: "a:53", TSIGSecretFile: "/s"}}, "dns01.tsig_secret_file", `needs <tsig-name>`},
	} {
		keyed, _ := KeyErrors(tc.cfg.Validate())
		var got []string
		found := false
		for _, ke := range keyed {
			msg := ke.Message(fileKey)
			got = append(got, ke.Key+": "+msg)
			if ke.Key == tc.key && msg == tc.want {
				found = true
			}
		}
		if !found {
			t.Errorf("%+v: no %s: %s among\n\t%s", *tc.cfg.DNS01, tc.key, tc.want, strings.Join(got, "\n\t"))
		}
	}
}

// A busy port is reported for the setting, in its words: the address and
// what to do, the webroot named as the caller names it, not the solver's
// type ("http01 standalone"); the error still wraps EADDRINUSE.
func TestBusyPortNamesSettings(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	for _, tc := range []struct {
		cfg  Config
		key  string
		want string
	}{
		{Config{HTTP01: &HTTP01{Listen: addr}}, "http01.listen",
			addr + " is already in use (another program serves this port: answer http-01 from its document root with <webroot>, or stop it)"},
		{Config{TLSALPN01: &TLSALPN01{Listen: addr}}, "tlsalpn01.listen",
			addr + " is already in use (another program serves this port: have it answer tls-alpn-01, stop it, or validate by http-01 or dns-01 instead)"},
	} {
		check := func(how string, err error) {
			t.Helper()
			keyed, other := KeyErrors(err)
			if len(keyed) != 1 || len(other) != 0 || keyed[0].Key != tc.key {
				t.Fatalf("%s: %v, want one KeyError about %s", how, err, tc.key)
			}
			if got := keyed[0].Message(fileKey); got != tc.want {
				t.Errorf("%s: Message\n got %s\nwant %s", how, got, tc.want)
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("%s: %v does not wrap EADDRINUSE", how, err)
			}
		}
		set, err := Build(tc.cfg, nil, Env{})
		if err != nil {
			t.Fatal(err)
		}
		check("Prepare", set.Prepare(t.Context()))
		check("Check", tc.cfg.Check(t.Context(), Env{}))

		// Built with Env.Names, the error's own text is in those names.
		set, err = Build(tc.cfg, nil, Env{Names: fileKey})
		if err != nil {
			t.Fatal(err)
		}
		err = set.Prepare(t.Context())
		if want := fileKey(tc.key) + ": " + tc.want; err == nil || err.Error() != want {
			t.Errorf("Prepare with Env.Names: %v, want %s", err, want)
		}
	}
}

// Env.Names writes Build's errors too; without it they keep the Config's
// keys.
func TestEnvNamesBuildErrors(t *testing.T) {
	cfg := Config{DNS01: &DNS01{Provider: "rfc2136", Server: "a:53", TSIGAlgorithm: "hmac-sha256"}}
	if _, err := Build(cfg, nil, Env{Names: fileKey}); err == nil || err.Error() != "<tsig-algorithm>: needs <tsig-name>" {
		t.Errorf("Build with Env.Names: %v", err)
	}
	if _, err := Build(cfg, nil, Env{}); err == nil || err.Error() != "dns01.tsig_algorithm: needs tsig_name" {
		t.Errorf("Build without Env.Names: %v", err)
	}
}
