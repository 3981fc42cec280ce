package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v3"
)

// Every help, the root's and each command's, spells flags with one dash
// (-store, -d), as the messages, the examples and docs/cli.md do.
func TestHelpSpellsFlagsWithOneDash(t *testing.T) {
	t.Parallel()
	twoDashes := regexp.MustCompile(`(?m)^\s+--[a-z]|, --[a-z]`)
	helps := [][]string{{"-h"}}
	for _, c := range commands() {
		helps = append(helps, []string{c.name, "-h"})
	}
	for _, args := range helps {
		code, out, errs := mainEnv(t, nil, args...)
		if code != ExitOK || errs != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
		if m := twoDashes.FindString(out); m != "" {
			t.Errorf("%v: help spells a flag %q:\n%s", args, m, out)
		}
		if !strings.Contains(out, "\n   -help, -h ") {
			t.Errorf("%v: help lacks the line \"-help, -h\":\n%s", args, out)
		}
	}
	code, out, _ := mainEnv(t, nil, "serve", "-h")
	for _, want := range []string{"\n   -domain value, -d value ", "\n   -tls-listen string ", "\n   -store string ", "\n   -verbose, -v "} {
		if code != ExitOK || !strings.Contains(out, want) {
			t.Errorf("serve -h lacks %q:\n%s", want, out)
		}
	}
}

// A single-valued flag given twice is a usage error naming the flag and
// both values, before anything is done: the store is not made, the CA
// (one that does not listen) not asked.
func TestSingleValuedFlagGivenTwice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	ca := "https://127.0.0.1:1/dir"
	cfg := writeConfig(t, unreachableConfig(t, st, "[[certificate]]\nnames = [\"a.example.test\"]\n"))
	for _, tc := range []struct {
		args []string
		want string // the line on stderr, up to the hint
	}{
		{[]string{"obtain", "-store", st, "-ca", ca, "-http-listen", "127.0.0.1:5002", "-http-listen", "127.0.0.1:5003", "a.example.test"},
			"certkeeper obtain: -http-listen given twice (127.0.0.1:5002, then 127.0.0.1:5003): give it once"},
		{[]string{"list", "-store", filepath.Join(dir, "A"), "-store", st},
			"certkeeper list: -store given twice (" + filepath.Join(dir, "A") + ", then " + st + "): give it once"},
		{[]string{"renew", "-store", st, "-ca", ca, "-timeout=1m", "-timeout", "2m", "--timeout", "3m"},
			"certkeeper renew: -timeout given 3 times (1m0s, 2m0s, then 3m0s): give it once"},
		// Booleans too.
		{[]string{"renew", "-store", st, "-ca", ca, "-force", "-force=false"}, "certkeeper renew: -force given twice (true, then false): give it once"},
		// A flag by its two names.
		{[]string{"list", "-store", st, "-v", "-verbose=false"}, "certkeeper list: -verbose (-v) given twice (true, then false): give it once"},
		// Three times, one of them the same.
		{[]string{"renew", "-store", st, "-ca", ca, "-timeout", "1m", "-timeout=60s", "--timeout", "2m"},
			"certkeeper renew: -timeout given 3 times (1m0s, 1m0s, then 2m0s): give it once"},
		// A common flag a command accepts without using it.
		{[]string{"list", "-store", st, "-agree-tos=false", "-agree-tos"}, "certkeeper list: -agree-tos given twice (false, then true): give it once"},
		// A secret's values are not shown.
		{[]string{"account", "register", "-store", st, "-ca", ca, "-eab-kid", "k", "-eab-hmac", "c2VjcmV0MQ", "-eab-hmac", "c2VjcmV0Mg"},
			"certkeeper account: -eab-hmac given twice: give it once"},
		// A flag and its former name.
		{[]string{"serve", "-store", st, "-ca", ca, "-https-addr", "127.0.0.1:5001", "-tls-listen", "127.0.0.1:5002", "-d", "a.example.test", "-root", dir},
			"certkeeper serve: -tls-listen given twice (127.0.0.1:5002, and -https-addr 127.0.0.1:5001): give it once"},
		{[]string{"doctor", "-resolver", "127.0.0.1:5301", "-resolver", "127.0.0.1:5302", "a.example.test"},
			"certkeeper doctor: -resolver given twice (127.0.0.1:5301, then 127.0.0.1:5302): give it once, or use -dns-resolver, which is repeatable"},
		{[]string{"run", "-config", cfg, "-config", cfg + ".bak"}, "certkeeper run: -config given twice (" + cfg + ", then " + cfg + ".bak): give it once"},
		// Values that would blur are quoted.
		{[]string{"obtain", "-store", st, "-ca", ca, "-profile", "", "-profile", "a b", "a.example.test"},
			`certkeeper obtain: -profile given twice ("", then "a b"): give it once`},
	} {
		r := runCLI(t.Context(), tc.args...)
		if r.code != ExitUsage || !strings.HasPrefix(r.stderr, tc.want+" (certkeeper ") && !strings.Contains(r.stderr, "\n"+tc.want+" (certkeeper ") {
			t.Errorf("want exit 2 and %q; got\n%v", tc.want, r)
		}
		if strings.Contains(r.stderr, "c2VjcmV0") {
			t.Errorf("the message shows a secret:\n%v", r)
		}
	}
	if _, err := os.Stat(st); !os.IsNotExist(err) {
		t.Errorf("the store was made (%v): the usage error comes before anything is done", err)
	}
}

// A value from the environment is no "given": the flag on the command
// line replaces it, by its name or its former one. The same value given
// twice loses nothing, and is accepted.
func TestFlagOverEnvironmentIsOnce(t *testing.T) {
	t.Parallel()
	st := t.TempDir()
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{map[string]string{"CERTKEEPER_STORE": "/nonexistent/env"}, []string{"list", "-store", t.TempDir()}},
		{map[string]string{"CERTKEEPER_VERBOSE": "true", "CERTKEEPER_JSON": "false"}, []string{"list", "-store", t.TempDir(), "-v", "-json"}},
		{nil, []string{"list", "-store", st, "-json", "-json", "-store", st, "-timeout", "60s", "-timeout", "1m", "-v", "-verbose"}},
	} {
		code, _, errs := mainEnv(t, tc.env, tc.args...)
		if code != ExitOK || strings.Contains(errs, "given") {
			t.Errorf("%v with %v: exit %d, stderr %q", tc.args, tc.env, code, errs)
		}
	}
	// serve's former -https-addr over $CERTKEEPER_TLS_LISTEN: parsed alone.
	env := Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: vars(map[string]string{"CERTKEEPER_TLS_LISTEN": "127.0.0.1:5001"})}
	fs := newFlagSet("serve", env)
	setupServe(fs)
	if err := fs.Parse([]string{"-https-addr", "127.0.0.1:5002"}); err != nil {
		t.Fatalf("-https-addr with $CERTKEEPER_TLS_LISTEN: %v", err)
	}
	if got := fs.cmd.String("tls-listen"); got != "127.0.0.1:5002" {
		t.Errorf("-https-addr with $CERTKEEPER_TLS_LISTEN: -tls-listen is %q, want the flag's", got)
	}
}

// Every flag of every command is either repeatable (a List: every value
// kept) or refused when given twice; none silently keeps the last.
func TestEveryFlagRepeatableOrOnce(t *testing.T) {
	t.Parallel()
	sample := map[string][]string{"bool": {"true", "false"}, "int": {"1", "2"}, "duration": {"1s", "2s"}}
	for _, c := range commands() {
		env := Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
		flags := newFlagSet(c.name, env)
		c.setup(flags)
		for _, f := range flags.flags {
			name := f.Names()[0]
			fs := newFlagSet(c.name, env)
			c.setup(fs)
			if _, ok := f.(*ucli.GenericFlag); ok {
				// Repeatable, under each of its names.
				args := []string{}
				for i, n := range f.Names() {
					args = append(args, "-"+n, "a"+string(rune('0'+i))+".example.test", "-"+n, "b"+string(rune('0'+i))+".example.test")
				}
				if err := fs.Parse(args); err != nil {
					t.Errorf("%s %v: %v", c.name, args, err)
					continue
				}
				got, _ := fs.cmd.Value(name).([]string)
				if len(got) != 2*len(f.Names()) || !slices.Contains(got, "b0.example.test") {
					t.Errorf("%s %v: -%s is %q, want every value", c.name, args, name, got)
				}
				continue
			}
			v := []string{"x", "y"}
			if tn, ok := f.(interface{ TypeName() string }); ok && sample[tn.TypeName()] != nil {
				v = sample[tn.TypeName()]
			}
			if strings.HasSuffix(name, "-port") { // former names of ports and addresses
				v = []string{"8080", "8081"}
			}
			last := "-" + f.Names()[len(f.Names())-1]
			args := []string{"-" + name + "=" + v[0], last + "=" + v[1]}
			err := fs.Parse(args)
			if exitCode(err) != ExitUsage || !strings.HasPrefix(err.Error(), "-"+name+" ") || !strings.Contains(err.Error(), " given twice") {
				t.Errorf("%s %v: want a usage error \"-%s ... given twice\"; got %v", c.name, args, name, err)
			}
			fs = newFlagSet(c.name, env)
			c.setup(fs)
			if args := []string{"-" + name + "=" + v[0], last + "=" + v[0]}; fs.Parse(args) != nil {
				t.Errorf("%s %v: the same value twice is refused", c.name, args)
			}
		}
	}
}
