package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/dnsprovider/bindtest"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/solver/solverset"
)

// parseDNSFlags parses args into solverFlags and returns the solvers they
// give.
func parseDNSFlags(t *testing.T, env Env, args ...string) (map[acme.ChallengeType]challenge.Solver, error) {
	t.Helper()
	fs := newFlagSet("test", env)
	var sf solverFlags
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	set, err := sf.build(env)
	if err != nil {
		return nil, err
	}
	return set.Solvers, nil
}

// TestDNSFlagsRFC2136 selects the RFC 2136 provider with flags, as
// "certkeeper obtain" does, and has Pebble validate a wildcard and its
// base name through BIND.
func TestDNSFlagsRFC2136(t *testing.T) {
	t.Parallel()
	b := bindtest.Start(t, bindtest.Options{
		Keys:      []bindtest.Key{{Name: "acme-key", Algorithm: "hmac-sha512"}},
		Zones:     []bindtest.Zone{{Name: "example.test"}},
		Recursion: true,
	})
	k := b.Keys[0]
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "acme-key.conf")
	os.WriteFile(keyFile, []byte(fmt.Sprintf("key %q {\n\talgorithm %s;\n\tsecret %q;\n};\n", strings.TrimSuffix(k.Name, "."), k.Algorithm, k.Secret)), 0o600)
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte(k.Secret+"\n"), 0o600)
	var stderr bytes.Buffer
	env := Env{Stdout: &stderr, Stderr: &stderr, Getenv: func(string) string { return "" }}
	common := []string{"-dns-provider", "rfc2136", "-dns-server", b.Addr, "-dns-resolver", b.Addr, "-dns-ns-port", strconv.Itoa(b.Port), "-dns-propagation-interval", "100ms", "-dns-propagation-timeout", "5s"}

	p := acmetest.NewTestPebble(t, acmetest.PebbleOptions{DNSServer: b.Addr})
	cl := &acme.Client{DirectoryURL: p.DirectoryURL, HTTPClient: p.HTTPClient()}
	key, _ := keys.Generate(keys.EC256)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	acct, err := cl.NewAccount(ctx, acme.Account{Key: key, TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, keyArgs := range [][]string{
		{"-tsig-key-file", keyFile},
		{"-tsig-name", "acme-key", "-tsig-algorithm", "hmac-sha512", "-tsig-secret-file", secretFile},
	} {
		solvers, err := parseDNSFlags(t, env, append(common, keyArgs...)...)
		if err != nil {
			t.Fatal(err)
		}
		if len(solvers) != 3 {
			t.Fatalf("solvers for %v, want dns-01, dns-account-01 and dns-persist-01", solvers)
		}
		ids, _ := issue.ParseIdentifiers("*.example.test", "example.test")
		is := &issue.Issuer{Client: cl, Account: acct, Solvers: solvers}
		if _, err := is.Obtain(ctx, issue.Request{Identifiers: ids}); err != nil {
			t.Fatalf("%v: %v", keyArgs, err)
		}
		if v := b.TXT(t, "_acme-challenge.example.test"); len(v) != 0 {
			t.Errorf("TXT left: %q", v)
		}
	}
}

func TestDNSFlagsUsage(t *testing.T) {
	t.Parallel()
	env := Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-dns-provider", "route53"}, "-dns-provider: unknown provider \"route53\""},
		{[]string{"-dns-provider", "rfc2136"}, "-dns-server: required"},
		{[]string{"-dns-provider", "rfc2136", "-dns-server", "127.0.0.1:53", "-tsig-name", "k"}, "$CERTKEEPER_TSIG_SECRET is not set"},
		{[]string{"-dns-provider", "exec"}, "-dns-exec: required"},
		{[]string{"-dns-provider", "webhook"}, "-dns-webhook: required"},
		{[]string{"-dns-provider", "webhook", "-dns-webhook", "http://x", "-dns-webhook-header", "nocolon"}, "want \"Name: value\""},
		{[]string{"-dns-provider", "webhook", "-dns-webhook", "http://x", "-dns-webhook-header", "Authorization: Bearer x"}, "CERTKEEPER_DNS_WEBHOOK_AUTHORIZATION"},
		{[]string{"-dns-provider", "acme-dns"}, "-acme-dns-server: required"},
		{[]string{"-dns-exec", "/bin/true"}, "-dns-provider: required"},
		{[]string{"-dns-hook", "/bin/true", "-dns-provider", "exec", "-dns-exec", "/bin/true"}, "-dns-hook is the former spelling of -dns-provider exec -dns-exec CMD"},
		{[]string{"-dns-provider", "exec", "-dns-exec", "/bin/true", "-dns-server", "127.0.0.1:53"}, "-dns-server: only used with -dns-provider \"rfc2136\""},
	} {
		_, err := parseDNSFlags(t, env, tc.args...)
		if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want a usage error with %q", tc.args, err, tc.want)
		}
	}
	for _, args := range [][]string{
		{"-http-listen", ":0"},
		{"-dns-provider", "exec", "-dns-exec", "/bin/true"},
		{"-dns-provider", "webhook", "-dns-webhook", "http://127.0.0.1:1/", "-dns-webhook-header", "X-Zone: example"},
		{"-dns-hook", "/bin/true", "-dns-delay", "1s"},
	} {
		if _, err := parseDNSFlags(t, env, args...); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestObtainWithRFC2136 runs "certkeeper obtain -dns-provider rfc2136": the
// command writes the records in a real BIND, which Pebble queries.
func TestObtainWithRFC2136(t *testing.T) {
	t.Parallel()
	b := bindtest.Start(t, bindtest.Options{
		Keys:      []bindtest.Key{{Name: "acme-key", Algorithm: "hmac-sha256"}},
		Zones:     []bindtest.Zone{{Name: "example.test"}},
		Recursion: true,
	})
	secretFile := writeFile(t, t.TempDir(), "secret", b.Keys[0].Secret+"\n", 0o600)
	e := newCLIEnv(t, acmetest.PebbleOptions{DNSServer: b.Addr})
	out := e.must("obtain", "-dns-provider", "rfc2136", "-dns-server", b.Addr, "-dns-resolver", b.Addr,
		"-dns-ns-port", strconv.Itoa(b.Port), "-dns-propagation-interval", "100ms", "-dns-propagation-timeout", "10s",
		"-tsig-name", "acme-key", "-tsig-algorithm", "hmac-sha256", "-tsig-secret-file", secretFile,
		"*.example.test", "example.test")
	if !strings.Contains(out, "obtained *.example.test") {
		t.Errorf("obtain printed %q", out)
	}
	if v := b.TXT(t, "_acme-challenge.example.test"); len(v) != 0 {
		t.Errorf("TXT left after obtain: %q", v)
	}
}

// TestObtainPreparesBeforeOrdering checks that obtain reports every local
// problem of its solvers at once, before any request: the CA's address
// here answers nothing.
func TestObtainPreparesBeforeOrdering(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	busy := busyAddr(t)
	webroot := filepath.Join(dir, "typo")
	r := runCLI(t.Context(), "obtain", "-ca", "https://127.0.0.1:1/dir", "-store", filepath.Join(dir, "store"), "-agree-tos",
		"-http-webroot", webroot, "-tls-listen", busy, "-dns-provider", "exec", "-dns-exec", filepath.Join(dir, "no-hook"),
		"www.example.test")
	if r.code != ExitError {
		t.Errorf("exit %d, want %d", r.code, ExitError)
	}
	for _, want := range []string{"-http-webroot: the document root must exist", "-dns-exec: not an executable program",
		"-tls-listen: " + busy + " is already in use (another program serves this port"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(webroot); err == nil {
		t.Error("the webroot was created")
	}
	if strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Errorf("a request went to the CA: %s", r.stderr)
	}
}

// TestEveryKeyHasAFlag checks that each setting of the solver schema is
// named by its flag in the command line's errors.
func TestEveryKeyHasAFlag(t *testing.T) {
	for prefix, typ := range map[string]reflect.Type{"http01.": reflect.TypeFor[solverset.HTTP01](), "tlsalpn01.": reflect.TypeFor[solverset.TLSALPN01](), "dns01.": reflect.TypeFor[solverset.DNS01]()} {
		for f := range typ.Fields() {
			key := prefix + f.Tag.Get("toml")
			if flagOf(key) == "" {
				t.Errorf("%s has no flag", key)
			}
		}
	}
}

// -dns-hook CMD, the former spelling, is read as -dns-provider exec
// -dns-exec CMD with the hook's behaviour (no propagation check, no CNAME
// followed), from the flag or its variable, and says what to write.
func TestFormerDNSHookFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"-dns-hook", "/bin/true", "-dns-delay", "1s"}, nil},
		{[]string{"-dns-delay", "1s"}, map[string]string{"CERTKEEPER_DNS_HOOK": "/bin/true"}},
	} {
		var errb bytes.Buffer
		env := Env{Stdout: &bytes.Buffer{}, Stderr: &errb, Getenv: func(k string) string { return tc.env[k] }}
		fs := newFlagSet("obtain", env)
		var sf solverFlags
		sf.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		cfg, err := sf.config()
		if err != nil {
			t.Fatal(err)
		}
		d := cfg.DNS01
		if d == nil || d.Provider != "exec" || d.Exec != "/bin/true" || d.Hook != "" || !d.NoPropagationCheck || !d.NoCNAME || d.Delay.D() != time.Second {
			t.Errorf("%v %v: dns01 %+v, want the exec provider, no propagation check, no CNAME, delay 1s", tc.args, tc.env, d)
		}
		if !strings.Contains(errb.String(), ": warning: -dns-hook is deprecated: use -dns-provider exec -dns-exec CMD") {
			t.Errorf("%v %v: stderr %q names no replacement", tc.args, tc.env, errb.String())
		}
	}
}

// A solver error names the other flags it mentions as flags, not as
// solverset's keys (tsig_key_file).
func TestFlagErrorsNameFlags(t *testing.T) {
	c := solverset.Config{DNS01: &solverset.DNS01{Provider: "rfc2136", Server: "127.0.0.1:53", TSIGKeyFile: "/k", TSIGSecretFile: "/s"}}
	got := flagErrors(c.Validate())
	want := "-tsig-secret-file: not used with -tsig-key-file, which names the key, its algorithm and its secret"
	if got != want {
		t.Errorf("flagErrors = %q, want %q", got, want)
	}
}
