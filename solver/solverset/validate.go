package solverset

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/certkeeper/certkeeper/acme"
)

// TSIGAlgorithms are the values DNS01.TSIGAlgorithm may take.
func TSIGAlgorithms() []string {
	return []string{"hmac-sha256", "hmac-sha512", "hmac-sha384", "hmac-sha224", "hmac-sha1"}
}

// Types returns the challenge types c configures, in the default order of
// preference (issue.DefaultPreference): http01 gives http-01, tlsalpn01
// tls-alpn-01, dns01 dns-01, dns-account-01 and dns-persist-01.
func (c Config) Types() []acme.ChallengeType {
	c, _ = c.Canonical()
	var t []acme.ChallengeType
	if c.HTTP01 != nil {
		t = append(t, acme.ChallengeHTTP01)
	}
	if c.TLSALPN01 != nil {
		t = append(t, acme.ChallengeTLSALPN01)
	}
	if d := c.DNS01; d != nil {
		t = append(t, acme.ChallengeDNS01, acme.ChallengeDNSAccount01, acme.ChallengeDNSPersist01)
	}
	return t
}

// Validate checks c without touching the system (files, ports and
// secrets are Prepare's) and reports every problem at once: the errors
// are *KeyError values joined by errors.Join, each named by its key, such
// as `dns01.server: required with provider "rfc2136"`. A Config that
// configures nothing is valid. Former spellings are read as Canonical
// reads them.
func (c Config) Validate() error {
	c, _ = c.Canonical()
	var errs []error
	bad := func(key, format string, a ...any) { errs = append(errs, keyErr(key, format, a...)) }
	if h := c.HTTP01; h != nil {
		switch {
		case h.Listen == "" && h.Webroot == "":
			bad("http01", "give %s (built-in server) or %s", ref("http01.listen"), ref("http01.webroot"))
		case h.Listen != "" && h.Webroot != "":
			bad("http01", "give %s or %s, not both", ref("http01.listen"), ref("http01.webroot"))
		case h.Listen != "":
			checkHostPort("http01.listen", h.Listen, bad)
		}
	}
	if t := c.TLSALPN01; t != nil {
		if t.Listen == "" {
			bad("tlsalpn01.listen", "required")
		} else {
			checkHostPort("tlsalpn01.listen", t.Listen, bad)
		}
	}
	if h, t := c.HTTP01, c.TLSALPN01; h != nil && t != nil && h.Listen != "" && h.Listen == t.Listen && !strings.HasSuffix(h.Listen, ":0") {
		bad("tlsalpn01.listen", "%q is also %s: one port cannot serve both", t.Listen, keyRef{"http01.listen", "http01.listen"})
	}
	if d := c.DNS01; d != nil {
		d.validate(bad)
	}
	return errors.Join(errs...)
}

// checkHostPort checks v, an address to listen on: host:port, the port
// a number from 0 to 65535 or a service name (":http").
func checkHostPort(key, v string, bad func(key, format string, a ...any)) {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		bad(key, "%q is not host:port (%v)", v, err)
		return
	}
	if n, err := strconv.ParseUint(port, 10, 64); err == nil && n > 65535 {
		bad(key, "%q: the port must be from 0 to 65535", v)
	}
}

// used lists a DNS01's provider-specific settings that are set, by key.
func (d *DNS01) used() map[string][]string {
	set := func(keys ...any) []string {
		var out []string
		for i := 0; i < len(keys); i += 2 {
			if keys[i+1].(bool) {
				out = append(out, keys[i].(string))
			}
		}
		return out
	}
	propagation := set("resolvers", len(d.Resolvers) > 0, "ns_port", d.NSPort != 0,
		"check_servers", len(d.CheckServers) > 0, "check_resolvers", len(d.CheckResolvers) > 0,
		"propagation_timeout", d.PropagationTimeout != 0, "propagation_interval", d.PropagationInterval != 0,
		"no_propagation_check", d.NoPropagationCheck, "no_cname", d.NoCNAME, "zones", len(d.Zones) > 0)
	return map[string][]string{
		ProviderRFC2136: set("server", d.Server != "", "tsig_key_file", d.TSIGKeyFile != "", "tsig_name", d.TSIGName != "",
			"tsig_algorithm", d.TSIGAlgorithm != "", "tsig_secret_file", d.TSIGSecretFile != "",
			"tsig_secret_env", d.TSIGSecretEnv != "", "ttl", d.TTL != 0),
		ProviderExec: set("exec", d.Exec != ""),
		ProviderWebhook: set("webhook_url", d.WebhookURL != "", "webhook_headers", len(d.WebhookHeaders) > 0,
			"webhook_authorization_file", d.WebhookAuthorizationFile != "", "webhook_authorization_env", d.WebhookAuthorizationEnv != ""),
		ProviderACMEDNS: set("acme_dns_server", d.ACMEDNSServer != "", "acme_dns_accounts", d.ACMEDNSAccounts != ""),
		"propagation":   propagation,
	}
}

func (d *DNS01) validate(bad func(key, format string, a ...any)) {
	p := d.provider()
	used := d.used()
	switch {
	case p == "":
		bad("dns01.provider", "required: %s", strings.Join(Providers(), ", "))
		return
	case d.Hook != "":
		// A hook that Canonical could not rewrite.
		switch {
		case p != ProviderExec:
			bad("dns01.hook", "the former spelling of %s \"exec\": not used with %s %q", ref("dns01.provider"), ref("dns01.provider"), d.Provider)
			return
		case d.Exec != "":
			bad("dns01.hook", "the former spelling of %s: give %s only", ref("dns01.exec"), ref("dns01.exec"))
			return
		}
		for _, k := range used["propagation"] {
			bad("dns01."+k, "not used with %s, which checks no propagation: give %s \"exec\" and the program as %s instead of %s",
				ref("dns01.hook"), ref("dns01.provider"), ref("dns01.exec"), ref("dns01.hook"))
		}
	case p == ProviderHook:
		bad("dns01.provider", "\"hook\" is the former spelling of \"exec\": give %s \"exec\" and the program as %s", ref("dns01.provider"), ref("dns01.exec"))
		return
	case !slices.Contains(Providers(), p):
		bad("dns01.provider", "unknown provider %q: want %s", d.Provider, strings.Join(Providers(), ", "))
		return
	}
	// Settings of another provider are mistakes: say which.
	for _, other := range Providers() {
		if other == p {
			continue
		}
		for _, k := range used[other] {
			bad("dns01."+k, "only used with %s %q, not %q", ref("dns01.provider"), other, p)
		}
	}
	for _, l := range []struct {
		key  string
		list []string
	}{{"resolvers", d.Resolvers}, {"check_servers", d.CheckServers}, {"check_resolvers", d.CheckResolvers}} {
		for _, v := range l.list {
			checkHostPort("dns01."+l.key, v, bad)
		}
	}
	for _, z := range d.Zones {
		if n := strings.Trim(z, "."); n == "" || strings.ContainsAny(n, " \t/:@*") || strings.Contains(n, "..") {
			bad("dns01.zones", "%q is not a zone name such as \"example.com\"", z)
		}
	}
	if d.NSPort < 0 || d.NSPort > 65535 {
		bad("dns01.ns_port", "%d is not a port number", d.NSPort)
	}
	switch p {
	case ProviderRFC2136:
		if d.Server == "" {
			bad("dns01.server", "required with %s %q: the primary server, host:port", ref("dns01.provider"), p)
		} else {
			checkHostPort("dns01.server", d.Server, bad)
		}
		if d.TSIGKeyFile != "" {
			for _, k := range []string{"tsig_name", "tsig_algorithm", "tsig_secret_file", "tsig_secret_env"} {
				if slices.Contains(used[ProviderRFC2136], k) {
					bad("dns01."+k, "not used with %s, which names the key, its algorithm and its secret", ref("dns01.tsig_key_file"))
				}
			}
		} else if d.TSIGName == "" {
			for _, k := range []string{"tsig_algorithm", "tsig_secret_file", "tsig_secret_env"} {
				if slices.Contains(used[ProviderRFC2136], k) {
					bad("dns01."+k, "needs %s", ref("dns01.tsig_name"))
				}
			}
		}
		if d.TSIGSecretFile != "" && d.TSIGSecretEnv != "" {
			bad("dns01.tsig_secret_env", "give %s or %s, not both", ref("dns01.tsig_secret_file"), ref("dns01.tsig_secret_env"))
		}
		if a := d.TSIGAlgorithm; a != "" && !slices.Contains(TSIGAlgorithms(), a) {
			bad("dns01.tsig_algorithm", "unknown algorithm %q: want %s", a, strings.Join(TSIGAlgorithms(), ", "))
		}
	case ProviderExec:
		if d.Exec == "" && d.Hook == "" {
			bad("dns01.exec", "required with %s %q: the program to run", ref("dns01.provider"), p)
		}
	case ProviderWebhook:
		if d.WebhookURL == "" {
			bad("dns01.webhook_url", "required with %s %q", ref("dns01.provider"), p)
		} else if u, err := url.Parse(d.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("dns01.webhook_url", "%q is not an http:// or https:// URL", d.WebhookURL)
		}
		for name, v := range d.WebhookHeaders {
			if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(v) {
				bad("dns01.webhook_headers", "%q: not a valid header name and value", name)
			}
			if http.CanonicalHeaderKey(name) == "Authorization" {
				bad("dns01.webhook_headers", "Authorization is a secret: give %s or %s instead", ref("dns01.webhook_authorization_file"), ref("dns01.webhook_authorization_env"))
			}
		}
		if d.WebhookAuthorizationFile != "" && d.WebhookAuthorizationEnv != "" {
			bad("dns01.webhook_authorization_env", "give %s or %s, not both", ref("dns01.webhook_authorization_file"), ref("dns01.webhook_authorization_env"))
		}
	case ProviderACMEDNS:
		if d.ACMEDNSServer == "" {
			bad("dns01.acme_dns_server", "required with %s %q: the API's base URL", ref("dns01.provider"), p)
		} else if u, err := url.Parse(d.ACMEDNSServer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("dns01.acme_dns_server", "%q is not an http:// or https:// URL", d.ACMEDNSServer)
		}
		if d.ACMEDNSAccounts == "" {
			bad("dns01.acme_dns_accounts", "required with %s %q: the JSON file of accounts", ref("dns01.provider"), p)
		}
	}
}

// checkChallenges checks that each of challenges is configured in c, and
// returns them as types.
func (c Config) checkChallenges(challenges []string) ([]acme.ChallengeType, error) {
	var errs []error
	var pref []acme.ChallengeType
	have := c.Types()
	for _, ch := range challenges {
		t := acme.ChallengeType(ch)
		table := tableFor(t)
		switch {
		case !slices.Contains([]acme.ChallengeType{acme.ChallengeHTTP01, acme.ChallengeTLSALPN01, acme.ChallengeDNS01, acme.ChallengeDNSAccount01, acme.ChallengeDNSPersist01}, t):
			errs = append(errs, fmt.Errorf("challenge %q: unknown type (want http-01, tls-alpn-01, dns-01, dns-account-01 or dns-persist-01)", ch))
		case slices.Contains(have, t):
			pref = append(pref, t)
		default:
			errs = append(errs, fmt.Errorf("challenge %s: no solver configured: add the %s table", ch, table))
		}
	}
	return pref, errors.Join(errs...)
}
