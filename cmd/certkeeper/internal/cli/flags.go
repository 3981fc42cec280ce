package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/keys"
	ucli "github.com/urfave/cli/v3"
)

// flagSet collects the flags of one command as urfave/cli flags, each
// with its environment variable (envName) read through Env.Getenv, so
// that tests and the process alike give the environment through Env.
// After parsing, cmd is the parsed command: set reports which flags were
// given (on the command line or in the environment).
type flagSet struct {
	name  string
	env   Env
	flags []ucli.Flag
	cmd   *ucli.Command
	log   *logFlags // the command's logging flags, checked before it runs
	// category is the help section of the flags registered next.
	category string
	// once are the single-valued flags, each refused when given twice
	// with two values (checkOnce); via labels the value a former name's
	// action sets next ("-https-addr :8443").
	once []*onceFlag
	via  string
}

func newFlagSet(name string, env Env) *flagSet {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	return &flagSet{name: name, env: env}
}

// envName is the environment variable of a flag: CERTKEEPER_ and the
// flag's name in upper snake case (-dns-check-server is
// $CERTKEEPER_DNS_CHECK_SERVER).
func envName(flag string) string {
	return "CERTKEEPER_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// envSource is a flag's value from an environment variable, read through
// Env.Getenv; an empty variable counts as unset. It implements
// ucli.EnvValueSource, so that help shows the variable.
type envSource struct {
	key    string
	getenv func(string) string
}

func (e envSource) Lookup() (string, bool) {
	v := e.getenv(e.key)
	return v, v != ""
}
func (e envSource) String() string   { return "environment variable " + e.key }
func (e envSource) GoString() string { return fmt.Sprintf("envSource{%q}", e.key) }
func (e envSource) IsFromEnv() bool  { return true }
func (e envSource) Key() string      { return e.key }

func (fs *flagSet) sources(name string) ucli.ValueSourceChain {
	return ucli.NewValueSourceChain(envSource{key: envName(name), getenv: fs.env.Getenv})
}

// flagOpt adjusts a flag as it is registered.
type flagOpt func(*flagMeta)

type flagMeta struct {
	aliases []string
	hidden  bool
	noEnv   bool
	secret  bool
	// formerOf is the flag a former name stands for (Deprecated).
	formerOf string
}

// alias gives a flag other names (a short one: -d, -v).
func alias(names ...string) flagOpt {
	return func(m *flagMeta) { m.aliases = append(m.aliases, names...) }
}

// hidden keeps a flag out of help and completion: accepted, not shown.
func hidden() flagOpt { return func(m *flagMeta) { m.hidden, m.noEnv = true, true } }

// secret keeps a flag's values out of messages (-eab-hmac given twice
// does not print the keys).
func secret() flagOpt { return func(m *flagMeta) { m.secret = true } }

func (fs *flagSet) meta(opts []flagOpt) flagMeta {
	var m flagMeta
	for _, o := range opts {
		o(&m)
	}
	return m
}

func (fs *flagSet) src(name string, m flagMeta) ucli.ValueSourceChain {
	if m.noEnv {
		return ucli.ValueSourceChain{}
	}
	return fs.sources(name)
}

// String, Bool, Duration and Int register single-valued flags: given
// twice with two values, a usage error (checkOnce).
func (fs *flagSet) String(p *string, name, def, usage string, opts ...flagOpt) {
	m := fs.meta(opts)
	f := &ucli.StringFlag{Name: name, Aliases: m.aliases, Usage: usage, Value: def, Destination: p,
		Sources: fs.src(name, m), Hidden: m.hidden, Category: fs.category}
	f.Validator = onceValidator[string](fs, f, m)
	fs.flags = append(fs.flags, f)
}

func (fs *flagSet) Bool(p *bool, name string, def bool, usage string, opts ...flagOpt) {
	m := fs.meta(opts)
	f := &ucli.BoolFlag{Name: name, Aliases: m.aliases, Usage: usage, Value: def, Destination: p,
		Sources: fs.src(name, m), Hidden: m.hidden, Category: fs.category}
	f.Validator = onceValidator[bool](fs, f, m)
	fs.flags = append(fs.flags, f)
}

func (fs *flagSet) Duration(p *time.Duration, name string, def time.Duration, usage string, opts ...flagOpt) {
	m := fs.meta(opts)
	f := &ucli.DurationFlag{Name: name, Aliases: m.aliases, Usage: usage, Value: def, Destination: p,
		Sources: fs.src(name, m), Hidden: m.hidden, Category: fs.category}
	f.Validator = onceValidator[time.Duration](fs, f, m)
	fs.flags = append(fs.flags, f)
}

func (fs *flagSet) Int(p *int, name string, def int, usage string, opts ...flagOpt) {
	m := fs.meta(opts)
	f := &ucli.IntFlag{Name: name, Aliases: m.aliases, Usage: usage, Value: def, Destination: p,
		Sources: fs.src(name, m), Hidden: m.hidden, Category: fs.category}
	f.Validator = onceValidator[int](fs, f, m)
	fs.flags = append(fs.flags, f)
}

// List registers a repeatable flag whose values may also be
// comma-separated (and so can its environment variable).
func (fs *flagSet) List(p *listFlag, name, usage string, opts ...flagOpt) {
	m := fs.meta(opts)
	fs.flags = append(fs.flags, &ucli.GenericFlag{Name: name, Aliases: m.aliases, Usage: usage, Value: p,
		Sources: fs.src(name, m), Hidden: m.hidden, Category: fs.category})
}

// Deprecated registers old, a former name of the flag now called name,
// hidden: it still works, and says once, on stderr, which flag replaces
// it. conv turns old's value into name's (nil: the same).
func (fs *flagSet) Deprecated(old, name string, conv func(string) (string, error)) {
	f := &ucli.StringFlag{Name: old, Hidden: true, Category: fs.category,
		Usage: name, // never shown: for the "did you mean" of a mistyped former name
		Action: func(_ context.Context, cmd *ucli.Command, v string) error {
			fmt.Fprintf(fs.env.Stderr, "certkeeper %s: -%s is deprecated: use -%s\n", fs.name, old, name)
			given := v
			if conv != nil {
				var err error
				if v, err = conv(v); err != nil {
					return usagef("-%s %s: %v", old, v, err)
				}
			}
			// The value -name gets is -old's, as checkOnce tells it.
			fs.via = "-" + old + " " + showValue(given)
			err := cmd.Set(name, v)
			fs.via = ""
			if err != nil {
				return usagef("-%s: %v", old, err)
			}
			return nil
		}}
	f.Validator = onceValidator[string](fs, f, flagMeta{formerOf: name})
	fs.flags = append(fs.flags, f)
}

// FormerDNSHook registers -dns-hook CMD (and $CERTKEEPER_DNS_HOOK),
// hidden: the former spelling of -dns-provider exec -dns-exec CMD, read
// as it worked (with -dns-no-propagation-check and -dns-no-cname), which
// says once, on stderr, what to write instead.
func (fs *flagSet) FormerDNSHook(p *string) {
	f := &ucli.StringFlag{Name: "dns-hook", Hidden: true, Category: fs.category, Destination: p,
		Sources: fs.sources("dns-hook"),
		Usage:   "dns-exec", // never shown: for the "did you mean" of a mistyped former name
		Action: func(context.Context, *ucli.Command, string) error {
			fmt.Fprintf(fs.env.Stderr, "certkeeper %s: warning: -dns-hook is deprecated: use -dns-provider exec -dns-exec CMD "+
				"(-dns-hook CMD is read as that with -dns-no-propagation-check -dns-no-cname, as it worked)\n", fs.name)
			return nil
		}}
	f.Validator = onceValidator[string](fs, f, flagMeta{})
	fs.flags = append(fs.flags, f)
}

// set reports whether the flag name was given, on the command line or
// through its environment variable.
func (fs *flagSet) set(name string) bool { return fs.cmd != nil && fs.cmd.IsSet(name) }

// setMap is set for every flag, as a map.
func (fs *flagSet) setMap() map[string]bool {
	m := map[string]bool{}
	if fs.cmd == nil {
		return m
	}
	for _, f := range fs.flags {
		for _, n := range f.Names() {
			if fs.cmd.IsSet(n) {
				m[f.Names()[0]] = true
			}
		}
	}
	return m
}

// Parse parses args (flags and positional arguments, in any order) as
// the command would, without running it; the positional arguments are
// returned by Args. For tests of flag groups.
func (fs *flagSet) Parse(args []string) error {
	cmd := &ucli.Command{
		Name: fs.name, Flags: fs.flags, Writer: fs.env.Stdout, ErrWriter: fs.env.Stderr,
		HideHelpCommand: true, HideVersion: true,
		OnUsageError: func(_ context.Context, cmd *ucli.Command, err error, _ bool) error {
			return usageError{err.Error()}
		},
		ExitErrHandler: func(context.Context, *ucli.Command, error) {},
		Action: func(_ context.Context, cmd *ucli.Command) error {
			fs.cmd = cmd
			return fs.checkOnce()
		},
	}
	return cmd.Run(context.Background(), append([]string{fs.name}, args...))
}

// listFlag collects a repeatable or comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}
func (l *listFlag) Get() any { return []string(*l) }

// StringP, BoolP and IntP register a flag and return where its value
// goes, as the flag package's String, Bool and Int do.
func (fs *flagSet) StringP(name, def, usage string, opts ...flagOpt) *string {
	p := new(string)
	fs.String(p, name, def, usage, opts...)
	return p
}

func (fs *flagSet) BoolP(name string, def bool, usage string, opts ...flagOpt) *bool {
	p := new(bool)
	fs.Bool(p, name, def, usage, opts...)
	return p
}

func (fs *flagSet) IntP(name string, def int, usage string, opts ...flagOpt) *int {
	p := new(int)
	fs.Int(p, name, def, usage, opts...)
	return p
}

// parseKeyType is keys.ParseType of the value of the flag -name: a usage
// error naming the flag ("-key-type ec999: unknown key type (known: …)").
func parseKeyType(name, value string) (keys.Type, error) {
	kt, err := keys.ParseType(value)
	var ute *keys.UnknownTypeError
	if errors.As(err, &ute) {
		return "", usagef("-%s %s: %s", name, value, ute.Message())
	}
	if err != nil {
		return "", usageError{err.Error()}
	}
	return kt, nil
}
