package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/certkeeper/certkeeper/solver/solverset"
)

// solverKeys maps each key of a [solvers] table to its setting in
// solverset's schema (a lineage record's JSON), and the flag it is, ""
// for a setting only the file has.
var solverKeys = []struct{ key, setting, flag string }{
	{"http-listen", "http01.listen", "http-listen"},
	{"http-webroot", "http01.webroot", "http-webroot"},
	{"tls-listen", "tlsalpn01.listen", "tls-listen"},
	{"dns-provider", "dns01.provider", "dns-provider"},
	{"dns-delay", "dns01.delay", "dns-delay"},
	{"dns-server", "dns01.server", "dns-server"},
	{"tsig-key-file", "dns01.tsig_key_file", "tsig-key-file"},
	{"tsig-name", "dns01.tsig_name", "tsig-name"},
	{"tsig-algorithm", "dns01.tsig_algorithm", "tsig-algorithm"},
	{"tsig-secret-file", "dns01.tsig_secret_file", "tsig-secret-file"},
	{"tsig-secret-env", "dns01.tsig_secret_env", ""},
	{"dns-ttl", "dns01.ttl", "dns-ttl"},
	{"dns-exec", "dns01.exec", "dns-exec"},
	{"dns-webhook", "dns01.webhook_url", "dns-webhook"},
	{"dns-webhook-headers", "dns01.webhook_headers", "dns-webhook-header"},
	{"dns-webhook-authorization-file", "dns01.webhook_authorization_file", ""},
	{"dns-webhook-authorization-env", "dns01.webhook_authorization_env", ""},
	{"acme-dns-server", "dns01.acme_dns_server", "acme-dns-server"},
	{"acme-dns-accounts", "dns01.acme_dns_accounts", "acme-dns-accounts"},
	{"dns-resolvers", "dns01.resolvers", "dns-resolver"},
	{"dns-ns-port", "dns01.ns_port", "dns-ns-port"},
	{"dns-check-servers", "dns01.check_servers", "dns-check-server"},
	{"dns-check-resolvers", "dns01.check_resolvers", "dns-check-resolver"},
	{"dns-propagation-timeout", "dns01.propagation_timeout", "dns-propagation-timeout"},
	{"dns-propagation-interval", "dns01.propagation_interval", "dns-propagation-interval"},
	{"dns-no-propagation-check", "dns01.no_propagation_check", "dns-no-propagation-check"},
	{"dns-no-cname", "dns01.no_cname", "dns-no-cname"},
	{"dns-zones", "dns01.zones", "dns-zone"},
}

// SolverKey returns the key of a [solvers] table for a setting of
// solverset's schema (a solverset.KeyError's Key): "dns01.server" is
// "dns-server"; a setting with no key of its own (the former dns01.hook)
// is returned as it is.
func SolverKey(setting string) string {
	for _, k := range solverKeys {
		if k.setting == setting {
			return k.key
		}
	}
	return setting
}

// SolverKeyOrNone is SolverKey, "" for a setting with no key of its own
// (for solverset.KeyError.Message).
func SolverKeyOrNone(setting string) string {
	if k := SolverKey(setting); k != setting {
		return k
	}
	return ""
}

// solversTable is a [solvers] table read into solverset's Config, with
// the problems and deprecation notes found, keyed relative to the table.
type solversTable struct {
	cfg   solverset.Config
	errs  []string // "key: problem"
	notes []string
}

func (s *solversTable) UnmarshalTOML(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("solvers takes a table")
	}
	given := map[string]string{} // setting -> the key that gave it
	set := func(key, setting string, val any) {
		if other, dup := given[setting]; dup {
			s.errs = append(s.errs, fmt.Sprintf("%s: the same setting as %s: give one", key, other))
			return
		}
		given[setting] = key
		table, field, _ := strings.Cut(setting, ".")
		data, err := json.Marshal(map[string]map[string]any{table: {field: val}})
		if err == nil {
			err = json.Unmarshal(data, &s.cfg)
		}
		if err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				err = fmt.Errorf("%v: takes %s", val, kindOf(te.Type))
			}
			s.errs = append(s.errs, fmt.Sprintf("%s: %v", key, err))
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "http01" || k == "tlsalpn01" || k == "dns01" {
			continue
		}
		i := slices.IndexFunc(solverKeys, func(e struct{ key, setting, flag string }) bool { return e.key == k })
		if i < 0 {
			s.errs = append(s.errs, fmt.Sprintf("%s: unknown key", k))
			continue
		}
		set(k, solverKeys[i].setting, m[k])
	}
	// The former tables, solverset's own schema.
	for _, table := range []string{"http01", "tlsalpn01", "dns01"} {
		v, ok := m[table]
		if !ok {
			continue
		}
		sub, ok := v.(map[string]any)
		if !ok {
			s.errs = append(s.errs, fmt.Sprintf("%s: takes a table", table))
			continue
		}
		fields := make([]string, 0, len(sub))
		for f := range sub {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		if len(fields) == 0 {
			// An empty former table configures its solver (Validate says
			// what it lacks).
			switch table {
			case "http01":
				s.cfg.HTTP01 = &solverset.HTTP01{}
			case "tlsalpn01":
				s.cfg.TLSALPN01 = &solverset.TLSALPN01{}
			case "dns01":
				s.cfg.DNS01 = &solverset.DNS01{}
			}
		}
		for _, f := range fields {
			setting := table + "." + f
			if !knownSetting(setting) {
				s.errs = append(s.errs, fmt.Sprintf("%s: unknown key", setting))
				continue
			}
			if nk := SolverKey(setting); nk != setting {
				s.notes = append(s.notes, fmt.Sprintf("%s is deprecated: write %s in [solvers]", setting, nk))
			}
			set(setting, setting, sub[f])
		}
	}
	if _, notes := s.cfg.Canonical(); len(notes) > 0 {
		s.notes = append(s.notes, `dns01.hook is deprecated: write dns-provider = "exec" and dns-exec = the program (with dns-no-propagation-check = true and dns-no-cname = true, as the hook worked)`)
	}
	return nil
}

// knownSetting reports whether setting is a key of solverset's schema.
func knownSetting(setting string) bool {
	if SolverKey(setting) != setting || setting == "dns01.hook" {
		return true
	}
	return false
}

func kindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a table"
	}
	return "another kind of value"
}

// Key is one key of the file, for documentation and the tests that keep
// the file's keys and the command line's flags one vocabulary.
type Key struct {
	// Path is the key as written: "ca", "solvers.dns-server",
	// "certificate.domains".
	Path string
	// Flag is the flag of obtain and renew it is, without the dash ("" for
	// a setting only the file has); a key whose value is a list is the
	// plural of a repeatable flag ("dns-zones" is -dns-zone).
	Flag string
}

// Keys returns every key of the file, former keys excepted.
func Keys() []Key {
	var out []Key
	flagOf := map[string]string{
		"ca": "ca", "ca-root": "ca-root", "eab-kid": "eab-kid", "eab-hmac": "eab-hmac", "email": "email",
		"agree-tos": "agree-tos", "account-key-type": "account-key-type", "store": "store", "layout": "layout",
		"certificate.cert-name": "cert-name", "certificate.domains": "domain", "certificate.challenges": "challenge",
		"certificate.key-type": "key-type", "certificate.reuse-key": "reuse-key", "certificate.profile": "profile",
		"certificate.preferred-chain": "preferred-chain",
		"defaults.challenges":         "challenge", "defaults.key-type": "key-type", "defaults.reuse-key": "reuse-key",
		"defaults.profile": "profile", "defaults.preferred-chain": "preferred-chain",
	}
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if tag == "" || tag == "-" || strings.HasPrefix(f.Name, "Former") {
				continue
			}
			path := prefix + tag
			ft := f.Type
			for ft.Kind() == reflect.Pointer || (ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct) {
				ft = ft.Elem()
			}
			switch {
			case ft == reflect.TypeOf(solversTable{}):
				for _, k := range solverKeys {
					out = append(out, Key{Path: path + "." + k.key, Flag: k.flag})
				}
			case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(caKey{}) && ft != reflect.TypeOf(storeKey{}) && ft != reflect.TypeOf(Duration(0)):
				walk(path+".", ft)
			default:
				out = append(out, Key{Path: path, Flag: flagOf[path]})
			}
		}
	}
	walk("", reflect.TypeOf(file{}))
	return out
}
