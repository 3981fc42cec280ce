// Package secenv takes secrets out of the environment handed to child
// processes: the hooks of the Manager, deploy hooks, the exec DNS provider
// and the legacy dns-01 hook.
//
// A variable is dropped when its name (compared in upper case)
//
//   - is one of Fixed (the variables certkeeper itself reads secrets from),
//   - is one of the extra names given (variables a setting names as a
//     secret source, e.g. tsig_secret_env, webhook_authorization_env),
//   - contains SECRET, TOKEN, PASSWORD, PASSWD, PASSPHRASE, HMAC,
//     CREDENTIAL or AUTHORIZATION (AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN,
//     PGPASSWORD, ...),
//   - or ends in KEY (API_KEY, CLOUDFLARE_API_KEY) unless its value is an
//     absolute path (SSL_KEY=/etc/ssl/k.pem names a file, not a secret).
//
// Everything else (PATH, HOME, LANG, TZ, proxies, ...) is kept. The rule
// errs on the side of dropping: a child that needs a secret reads it from
// a file of its own, or is given it by a wrapper script.
package secenv

import (
	"os"
	"strings"
)

// Fixed are the variables certkeeper reads secrets from.
var Fixed = []string{
	"CERTKEEPER_EAB_HMAC",
	"CERTKEEPER_TSIG_SECRET",
	"CERTKEEPER_DNS_WEBHOOK_AUTHORIZATION",
}

// words mark a variable as a secret wherever they appear in its name.
var words = []string{"SECRET", "TOKEN", "PASSWORD", "PASSWD", "PASSPHRASE", "HMAC", "CREDENTIAL", "AUTHORIZATION"}

// IsSecret reports whether the variable name=value is dropped by Filter
// (extra being the names settings give as secret sources).
func IsSecret(name, value string, extra ...string) bool {
	up := strings.ToUpper(name)
	for _, f := range Fixed {
		if up == f {
			return true
		}
	}
	for _, e := range extra {
		if e != "" && (name == e || up == strings.ToUpper(e)) {
			return true
		}
	}
	for _, w := range words {
		if strings.Contains(up, w) {
			return true
		}
	}
	if strings.HasSuffix(up, "KEY") && !strings.HasPrefix(value, "/") {
		return true
	}
	return false
}

// Filter returns env ("NAME=value" entries, as os.Environ) without the
// secrets, in a new slice. extra are further variable names to drop.
func Filter(env []string, extra ...string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if name == "" || IsSecret(name, value, extra...) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Environ is Filter(os.Environ(), extra...).
func Environ(extra ...string) []string { return Filter(os.Environ(), extra...) }
