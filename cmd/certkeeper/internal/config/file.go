package config

// The file's keys are the command line's flag names: a setting that
// obtain and renew take as -FLAG is the key FLAG (the plural, FLAGs, for
// a repeatable flag whose value is a list), at the top level or in
// [solvers]; settings only the daemon has are spelled the same way
// (kebab-case). certbot's cli.ini does the same with its long flags, so
// that what works on the command line is copied into the file as it is.
//
// The former keys (the [ca], [account] and [store] tables, snake_case,
// the [solvers.http01|tlsalpn01|dns01] tables of solverset's schema)
// still work: each draws a deprecation note (Config.Deprecated) naming
// the key that replaces it. One setting given both ways is an error.

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

// file is what the TOML decodes into; toConfig turns it into a Config.
type file struct {
	CA          caKey    `toml:"ca"` // a string, or the former [ca] table
	CARoot      string   `toml:"ca-root"`
	EABKeyID    string   `toml:"eab-kid"`
	EABHMAC     string   `toml:"eab-hmac"`
	EABHMACFile string   `toml:"eab-hmac-file"`
	Email       string   `toml:"email"`
	AgreeTOS    bool     `toml:"agree-tos"`
	AccountKey  string   `toml:"account-key-type"`
	Store       storeKey `toml:"store"` // a string, or the former [store] table
	Layout      string   `toml:"layout"`
	Backend     string   `toml:"store-backend"`

	FormerAccount *formerAccount `toml:"account"`

	Renewal  renewalFile  `toml:"renewal"`
	Metrics  metricsFile  `toml:"metrics"`
	Solvers  solversTable `toml:"solvers"`
	Hooks    []Hook       `toml:"hook"`
	Certs    []certFile   `toml:"certificate"`
	Defaults defaultsFile `toml:"defaults"`

	// formerSection is the store backend's table made from the former
	// [store] table's etcd_* keys; set by toConfig.
	formerSection map[string]any
}

// reservedTable reports whether name is a key of the file, and so cannot
// name a store backend (whose table is [NAME] at the top level).
func reservedTable(name string) bool {
	t := reflect.TypeOf(file{})
	for i := 0; i < t.NumField(); i++ {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ","); tag == name {
			return true
		}
	}
	return false
}

type formerAccount struct {
	Email    string `toml:"email"`
	KeyType  string `toml:"key_type"`
	AgreeTOS bool   `toml:"agree_tos"`
}

type renewalFile struct {
	CheckInterval Duration   `toml:"check-interval"`
	RenewFraction float64    `toml:"renew-fraction"`
	ReissueBefore Duration   `toml:"reissue-before"`
	PanicBefore   Duration   `toml:"panic-before"`
	Backoff       []Duration `toml:"backoff"`
	Jitter        float64    `toml:"jitter"`

	FormerCheckInterval Duration `toml:"check_interval"`
	FormerRenewFraction float64  `toml:"renew_fraction"`
	FormerReissueBefore Duration `toml:"reissue_before"`
	FormerPanicBefore   Duration `toml:"panic_before"`
}

type metricsFile struct {
	Listen       string `toml:"listen"`
	Username     string `toml:"username"`
	PasswordFile string `toml:"password-file"`

	FormerPasswordFile string `toml:"password_file"`
}

type defaultsFile struct {
	Challenges     []string `toml:"challenges"`
	KeyType        string   `toml:"key-type"`
	ReuseKey       bool     `toml:"reuse-key"`
	Profile        string   `toml:"profile"`
	PreferredChain string   `toml:"preferred-chain"`

	FormerKeyType        string `toml:"key_type"`
	FormerReuseKey       bool   `toml:"reuse_key"`
	FormerPreferredChain string `toml:"preferred_chain"`
}

type certFile struct {
	CertName       string        `toml:"cert-name"`
	Domains        []string      `toml:"domains"`
	Challenges     []string      `toml:"challenges"`
	KeyType        string        `toml:"key-type"`
	ReuseKey       *bool         `toml:"reuse-key"`
	Profile        string        `toml:"profile"`
	PreferredChain string        `toml:"preferred-chain"`
	Solvers        *solversTable `toml:"solvers"`

	FormerName           string   `toml:"name"`
	FormerNames          []string `toml:"names"`
	FormerKeyType        string   `toml:"key_type"`
	FormerReuseKey       *bool    `toml:"reuse_key"`
	FormerPreferredChain string   `toml:"preferred_chain"`
}

// caKey is the top-level ca: the CA's directory URL or alias, or the
// former [ca] table.
type caKey struct {
	url    string
	former map[string]any
}

func (k *caKey) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		k.url = v
	case map[string]any:
		k.former = v
	default:
		return fmt.Errorf("ca takes a string: the CA's directory URL, letsencrypt or letsencrypt-staging")
	}
	return nil
}

// storeKey is the top-level store: the store's directory, or the former
// [store] table.
type storeKey struct {
	dir    string
	former map[string]any
}

func (k *storeKey) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		k.dir = v
	case map[string]any:
		k.former = v
	default:
		return fmt.Errorf("store takes a string: the store's directory")
	}
	return nil
}

// decodeFormer decodes a former table, as the map TOML gave, into dst (a
// pointer to a struct with toml tags), naming each key it does not know.
func decodeFormer(table string, m map[string]any, dst any) []string {
	var errs []string
	data, err := toml.Marshal(m)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", table, err)}
	}
	md, err := toml.Decode(string(data), dst)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", table, err)}
	}
	for _, k := range md.Undecoded() {
		errs = append(errs, fmt.Sprintf("%s.%s: unknown key", table, k.String()))
	}
	return errs
}

// formerCA is the former [ca] table.
type formerCA struct {
	URL         string `toml:"url"`
	Root        string `toml:"root"`
	EABKeyID    string `toml:"eab_kid"`
	EABHMAC     string `toml:"eab_hmac"`
	EABHMACFile string `toml:"eab_hmac_file"`
}

// formerStore is the former [store] table.
type formerStore struct {
	Backend          string   `toml:"backend"`
	Dir              string   `toml:"dir"`
	Layout           string   `toml:"layout"`
	EtcdEndpoints    []string `toml:"etcd_endpoints"`
	EtcdPrefix       string   `toml:"etcd_prefix"`
	EtcdCA           string   `toml:"etcd_ca"`
	EtcdCert         string   `toml:"etcd_cert"`
	EtcdKey          string   `toml:"etcd_key"`
	EtcdUsername     string   `toml:"etcd_username"`
	EtcdPasswordFile string   `toml:"etcd_password_file"`
	LockTTL          string   `toml:"lock_ttl"`
}

// merger moves former keys onto their new ones, noting each and refusing
// a setting given both ways.
type merger struct {
	md    toml.MetaData
	notes []string
	errs  []string
}

// take notes that the former key old (a dotted path) stands for new, and
// reports whether its value is to be used: it was given, and new was
// not. newSet says whether new was given.
func (g *merger) take(old, new string, oldSet, newSet bool) bool {
	if !oldSet {
		return false
	}
	if newSet {
		g.errs = append(g.errs, fmt.Sprintf("%s: the former key of %s, which is also given: keep %s", old, new, new))
		return false
	}
	g.notes = append(g.notes, fmt.Sprintf("%s is deprecated: write %s", old, new))
	return true
}

func (g *merger) defined(path string) bool { return g.md.IsDefined(strings.Split(path, ".")...) }

// mergeString is take for a string setting at dst.
func (g *merger) mergeString(old, new string, oldVal string, dst *string) {
	if g.take(old, new, g.defined(old), g.defined(new)) {
		*dst = oldVal
	}
}

// toConfig turns the decoded file into a Config, with the deprecation
// notes and the problems of former keys.
func (f *file) toConfig(md toml.MetaData) (*Config, []string, []string) {
	g := &merger{md: md}
	c := &Config{}
	c.CA = CA{URL: f.CA.url, Root: f.CARoot, EABKeyID: f.EABKeyID, EABHMAC: f.EABHMAC, EABHMACFile: f.EABHMACFile}
	if f.CA.former != nil {
		var old formerCA
		g.errs = append(g.errs, decodeFormer("ca", f.CA.former, &old)...)
		for _, kv := range []struct {
			old, new string
			val      string
			dst      *string
		}{{"url", "ca", old.URL, &c.CA.URL}, {"root", "ca-root", old.Root, &c.CA.Root}, {"eab_kid", "eab-kid", old.EABKeyID, &c.CA.EABKeyID},
			{"eab_hmac", "eab-hmac", old.EABHMAC, &c.CA.EABHMAC}, {"eab_hmac_file", "eab-hmac-file", old.EABHMACFile, &c.CA.EABHMACFile}} {
			_, has := f.CA.former[kv.old]
			if g.take("ca."+kv.old, kv.new, has, kv.new != "ca" && g.defined(kv.new)) {
				*kv.dst = kv.val
			}
		}
	}
	c.Account = Account{Email: f.Email, AgreeTOS: f.AgreeTOS, KeyType: f.AccountKey}
	if a := f.FormerAccount; a != nil {
		g.mergeString("account.email", "email", a.Email, &c.Account.Email)
		g.mergeString("account.key_type", "account-key-type", a.KeyType, &c.Account.KeyType)
		if g.take("account.agree_tos", "agree-tos", g.defined("account.agree_tos"), g.defined("agree-tos")) {
			c.Account.AgreeTOS = a.AgreeTOS
		}
	}
	c.Store = Store{Dir: f.Store.dir, Layout: f.Layout, Backend: f.Backend}
	if f.Store.former != nil {
		var old formerStore
		g.errs = append(g.errs, decodeFormer("store", f.Store.former, &old)...)
		s := &c.Store
		for _, kv := range []struct {
			old, new string
			val      string
			dst      *string
		}{{"dir", "store", old.Dir, &s.Dir}, {"layout", "layout", old.Layout, &s.Layout}, {"backend", "store-backend", old.Backend, &s.Backend}} {
			_, has := f.Store.former[kv.old]
			if g.take("store."+kv.old, kv.new, has, kv.new != "store" && g.defined(kv.new)) {
				*kv.dst = kv.val
			}
		}
		// The former etcd_* keys are the keys of the backend's table.
		for _, k := range []string{"etcd_endpoints", "etcd_prefix", "etcd_ca", "etcd_cert", "etcd_key", "etcd_username", "etcd_password_file", "lock_ttl"} {
			v, has := f.Store.former[k]
			if !has {
				continue
			}
			nk := strings.ReplaceAll(strings.TrimPrefix(k, "etcd_"), "_", "-")
			g.notes = append(g.notes, fmt.Sprintf("store.%s is deprecated: write %s in the table [etcd]", k, nk))
			if f.formerSection == nil {
				f.formerSection = map[string]any{}
			}
			f.formerSection[nk] = v
		}
	}

	r := f.Renewal
	c.Renewal = Renewal{CheckInterval: r.CheckInterval, RenewFraction: r.RenewFraction, ReissueBefore: r.ReissueBefore,
		PanicBefore: r.PanicBefore, Backoff: r.Backoff, Jitter: r.Jitter}
	for _, kv := range []struct {
		old, new string
		val      Duration
		dst      *Duration
	}{{"check_interval", "check-interval", r.FormerCheckInterval, &c.Renewal.CheckInterval},
		{"reissue_before", "reissue-before", r.FormerReissueBefore, &c.Renewal.ReissueBefore},
		{"panic_before", "panic-before", r.FormerPanicBefore, &c.Renewal.PanicBefore}} {
		if g.take("renewal."+kv.old, "renewal."+kv.new, g.defined("renewal."+kv.old), g.defined("renewal."+kv.new)) {
			*kv.dst = kv.val
		}
	}
	if g.take("renewal.renew_fraction", "renewal.renew-fraction", g.defined("renewal.renew_fraction"), g.defined("renewal.renew-fraction")) {
		c.Renewal.RenewFraction = r.FormerRenewFraction
	}

	c.Metrics = Metrics{Listen: f.Metrics.Listen, Username: f.Metrics.Username, PasswordFile: f.Metrics.PasswordFile}
	g.mergeString("metrics.password_file", "metrics.password-file", f.Metrics.FormerPasswordFile, &c.Metrics.PasswordFile)

	c.Solvers = f.Solvers.cfg
	for _, n := range f.Solvers.notes {
		g.notes = append(g.notes, "solvers."+n)
	}
	for _, e := range f.Solvers.errs {
		g.errs = append(g.errs, "solvers."+e)
	}
	c.Hooks = f.Hooks

	d := f.Defaults
	c.Defaults = CertDefaults{Challenges: d.Challenges, KeyType: d.KeyType, ReuseKey: d.ReuseKey, Profile: d.Profile, PreferredChain: d.PreferredChain}
	g.mergeString("defaults.key_type", "defaults.key-type", d.FormerKeyType, &c.Defaults.KeyType)
	g.mergeString("defaults.preferred_chain", "defaults.preferred-chain", d.FormerPreferredChain, &c.Defaults.PreferredChain)
	if g.take("defaults.reuse_key", "defaults.reuse-key", g.defined("defaults.reuse_key"), g.defined("defaults.reuse-key")) {
		c.Defaults.ReuseKey = d.FormerReuseKey
	}

	for i, cf := range f.Certs {
		key := fmt.Sprintf("certificate[%d]", i)
		cert := Certificate{Name: cf.CertName, Names: cf.Domains, Challenges: cf.Challenges, KeyType: cf.KeyType, ReuseKey: cf.ReuseKey,
			Profile: cf.Profile, PreferredChain: cf.PreferredChain}
		pair := func(old, new string, oldSet, newSet bool) bool {
			return g.take(key+"."+old, key+"."+new, oldSet, newSet)
		}
		if pair("name", "cert-name", cf.FormerName != "", cf.CertName != "") {
			cert.Name = cf.FormerName
		}
		if pair("names", "domains", cf.FormerNames != nil, cf.Domains != nil) {
			cert.Names = cf.FormerNames
		}
		if pair("key_type", "key-type", cf.FormerKeyType != "", cf.KeyType != "") {
			cert.KeyType = cf.FormerKeyType
		}
		if pair("reuse_key", "reuse-key", cf.FormerReuseKey != nil, cf.ReuseKey != nil) {
			cert.ReuseKey = cf.FormerReuseKey
		}
		if pair("preferred_chain", "preferred-chain", cf.FormerPreferredChain != "", cf.PreferredChain != "") {
			cert.PreferredChain = cf.FormerPreferredChain
		}
		if cf.Solvers != nil {
			sv := cf.Solvers.cfg
			cert.Solvers = &sv
			for _, n := range cf.Solvers.notes {
				g.notes = append(g.notes, key+".solvers."+n)
			}
			for _, e := range cf.Solvers.errs {
				g.errs = append(g.errs, key+".solvers."+e)
			}
		}
		c.Certs = append(c.Certs, cert)
	}
	return c, g.notes, g.errs
}
