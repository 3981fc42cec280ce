package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	ucli "github.com/urfave/cli/v3"
)

// TestHelpOnStdout: "certkeeper obtain -h | less" shows the help, with
// examples and each flag's variable; each command shows only its flags.
func TestHelpOnStdout(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"obtain", "-h"}, {"obtain", "--help"}, {"help", "obtain"}} {
		code, out, errs := mainEnv(t, nil, args...)
		if code != ExitOK || errs != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
		for _, want := range []string{"certkeeper obtain", "Examples:", "certkeeper obtain -http-webroot", " -http-listen string", "[$CERTKEEPER_HTTP_LISTEN]", " -agree-tos ", " -log-level string"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: help on stdout lacks %q:\n%s", args, want, out)
			}
		}
	}
	code, out, _ := mainEnv(t, nil, "list", "-h")
	if code != ExitOK || !strings.Contains(out, " -json ") || !strings.Contains(out, " -store string") {
		t.Errorf("list -h: exit %d\n%s", code, out)
	}
	for _, not := range []string{"agree-tos", "eab-hmac", "http-listen", "account-key-type"} {
		if strings.Contains(out, not) {
			t.Errorf("list -h shows -%s, which list does not use", not)
		}
	}
	// -h after a command's word: that command's help, not "No help topic".
	for _, args := range [][]string{{"account", "update", "-h"}, {"account", "rollover", "-store", "/nonexistent", "--help"}} {
		code, out, errs := mainEnv(t, nil, args...)
		if code != ExitOK || errs != "" || !strings.Contains(out, "certkeeper account") || !strings.Contains(out, " -add-contact ") {
			t.Errorf("%v: exit %d, stderr %q\n%s", args, code, errs, out)
		}
	}
	code, out, _ = mainEnv(t, nil, "-h")
	if code != ExitOK || !strings.Contains(out, "completion") || !strings.Contains(out, "version") || !strings.Contains(out, "doctor") {
		t.Errorf("-h: exit %d\n%s", code, out)
	}
	// No command at all: the help, on stdout, and exit 2.
	if code, out, _ := mainEnv(t, nil); code != ExitUsage || !strings.Contains(out, "COMMANDS") {
		t.Errorf("no arguments: exit %d\n%s", code, out)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, out, errs := mainEnv(t, nil, args...)
		if code != ExitOK || errs != "" || !strings.HasPrefix(out, "certkeeper ") || !strings.Contains(out, runtime.Version()) || !strings.Contains(out, "commit ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	for shell, want := range map[string]string{"bash": "complete ", "zsh": "#compdef certkeeper", "fish": "complete -c certkeeper"} {
		code, out, errs := mainEnv(t, nil, "completion", shell)
		if code != ExitOK || errs != "" || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, stderr %q, stdout lacks %q:\n%s", shell, code, errs, want, out)
		}
	}
	if code, _, _ := mainEnv(t, nil, "completion", "tcsh"); code == ExitOK {
		t.Errorf("completion tcsh: exit 0")
	}
	// What the scripts ask the binary: commands, a command's flags, and
	// account's words.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--generate-shell-completion"}, "obtain:"},
		{[]string{"obtain", "-http-l", "--generate-shell-completion"}, "--http-listen"},
		{[]string{"account", "--generate-shell-completion"}, "rollover"},
	} {
		code, out, _ := mainEnv(t, nil, tc.args...)
		if code != ExitOK || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, stdout lacks %q:\n%s", tc.args, code, tc.want, out)
		}
	}
}

// TestSuggestions: a mistyped command or flag gets one line naming the
// nearest, and exit 2; no usage dump.
func TestSuggestions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"obtian", "example.com"}, `certkeeper: unknown command "obtian"; did you mean "obtain"?`},
		{[]string{"obtain", "-tiemout", "1m", "example.com"}, "did you mean -timeout?"},
		{[]string{"renew", "--forse"}, "did you mean -force?"},
		{[]string{"serve", "-https-adr", ":443"}, "did you mean -tls-listen?"},
		{[]string{"list", "-jsn"}, "did you mean -json?"},
	} {
		code, out, errs := mainEnv(t, nil, tc.args...)
		if code != ExitUsage || out != "" || !strings.Contains(errs, tc.want) || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, " -h ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q: want one line with %q and the -h hint", tc.args, code, out, errs, tc.want)
		}
	}
}

// TestEnvironmentVariables: every flag has its variable; the flag wins.
func TestEnvironmentVariables(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() + "/nostore"
	code, _, errs := mainEnv(t, map[string]string{"CERTKEEPER_STORE": dir}, "list")
	if code != ExitError || !strings.Contains(errs, "no store at "+dir) {
		t.Errorf("$CERTKEEPER_STORE: exit %d, stderr %q", code, errs)
	}
	code, _, errs = mainEnv(t, map[string]string{"CERTKEEPER_STORE": dir}, "list", "-store", dir+"2")
	if code != ExitError || !strings.Contains(errs, "no store at "+dir+"2") {
		t.Errorf("-store over $CERTKEEPER_STORE: exit %d, stderr %q", code, errs)
	}
	// A flag read only from its variable: -json.
	code, out, _ := mainEnv(t, map[string]string{"CERTKEEPER_STORE": t.TempDir(), "CERTKEEPER_JSON": "true"}, "list")
	if code != ExitOK || strings.TrimSpace(out) != "[]" {
		t.Errorf("$CERTKEEPER_JSON: exit %d, stdout %q", code, out)
	}
	// A variable that does not parse is a usage error.
	code, _, errs = mainEnv(t, map[string]string{"CERTKEEPER_TIMEOUT": "soon"}, "list")
	if code != ExitUsage || !strings.Contains(errs, "soon") {
		t.Errorf("$CERTKEEPER_TIMEOUT=soon: exit %d, stderr %q", code, errs)
	}
	// Every visible flag has CERTKEEPER_<NAME>.
	app := newApp(Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }})
	for _, c := range app.Commands {
		code, out, _ := mainEnv(t, nil, c.Name, "-h")
		if code != ExitOK {
			t.Errorf("%s -h: exit %d", c.Name, code)
		}
		for _, f := range c.Flags {
			n := f.Names()[0]
			if vf, ok := f.(ucli.VisibleFlag); n == "help" || ok && !vf.IsVisible() {
				continue
			}
			if !strings.Contains(out, "[$"+envName(n)+"]") {
				t.Errorf("%s -h shows -%s without $%s", c.Name, n, envName(n))
			}
		}
	}
}

// TestDeprecatedFlags: the former names work and say which flag replaces
// them, in one line.
func TestDeprecatedFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "-http-addr", ":0", "-d", "x.example.test"}, "certkeeper serve: -http-addr is deprecated: use -http-listen"},
		{[]string{"serve", "-https-addr", ":0", "-d", "x.example.test"}, "certkeeper serve: -https-addr is deprecated: use -tls-listen"},
		{[]string{"doctor", "-http-port", "8080"}, "certkeeper doctor: -http-port is deprecated: use -http-listen"},
		{[]string{"doctor", "-tls-port", "8443"}, "certkeeper doctor: -tls-port is deprecated: use -tls-listen"},
		{[]string{"doctor", "-resolver", "127.0.0.1:53"}, "certkeeper doctor: -resolver is deprecated: use -dns-resolver"},
		{[]string{"doctor", "-ns-port", "5353"}, "certkeeper doctor: -ns-port is deprecated: use -dns-ns-port"},
	} {
		// Each stops at a usage error (no -proxy/-root, no names) after
		// the flags are read.
		code, _, errs := mainEnv(t, nil, tc.args...)
		if code != ExitUsage || strings.Count(errs, tc.want) != 1 {
			t.Errorf("%v: exit %d, stderr %q, want %q once", tc.args, code, errs, tc.want)
		}
	}
	// The former name sets the new flag.
	env := Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
	fs := newFlagSet("doctor", env)
	var listen string
	fs.String(&listen, "http-listen", ":80", "")
	fs.Deprecated("http-port", "http-listen", portToListen)
	if err := fs.Parse([]string{"-http-port", "8080"}); err != nil || listen != ":8080" || !fs.set("http-listen") {
		t.Errorf("-http-port 8080: -http-listen %q, err %v", listen, err)
	}
	if code, _, errs := mainEnv(t, nil, "doctor", "-http-port", "eighty", "x.example.test"); code != ExitUsage || !strings.Contains(errs, "not a port") {
		t.Errorf("-http-port eighty: exit %d, stderr %q", code, errs)
	}
}

// TestUsageErrorSendsNothing: a usage error exits 2 before any request
// to the CA.
func TestUsageErrorSendsNothing(t *testing.T) {
	t.Parallel()
	var requests atomic.Int32
	ca := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer ca.Close()
	store := t.TempDir()
	for _, args := range [][]string{
		{"obtain", "-tiemout", "1m", "-http-listen", ":0", "x.example.test"},
		{"obtain", "-http-listen", ":0", "-log-level", "loud", "x.example.test"},
		{"obtain", "-http-listen", ":0", "-log-format", "xml", "x.example.test"},
		{"obtain", "-http-listen", ":0", "-timeout", "soon", "x.example.test"},
		{"obtain", "-http-listen", ":0", "-key-type", "rsa1024", "x.example.test"},
		{"obtain", "-http-listen", ":0", "bad..name"},
		{"renew", "-nosuch"},
		{"revoke", "-reason", "boredom", "x.example.test"},
		{"account", "frobnicate"},
		{"doctor", "-http-listen", "nope", "x.example.test"},
		{"doctor"},
		{"obtian", "x.example.test"},
	} {
		full := append(append([]string{}, args...), "-ca", ca.URL+"/dir", "-store", store)
		if args[0] == "obtian" {
			full = args
		}
		code, _, errs := mainEnv(t, nil, full...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, ExitUsage, errs)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests reached the CA", n)
	}
}

// TestLogFlags: every line has its time; -v, -quiet and -log-level set
// the level; -log-format json writes one object a line.
func TestLogFlags(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	l := logFlags{logLevel: "info", logFormat: "text"}
	l.logger(&b).Info("hello", "k", "v")
	l.logger(&b).Debug("hidden")
	if s := b.String(); !strings.HasPrefix(s, "time=") || !strings.Contains(s, "msg=hello") || strings.Contains(s, "hidden") {
		t.Errorf("text: %q", s)
	}
	b.Reset()
	l = logFlags{logLevel: "info", logFormat: "json", verbose: true}
	l.logger(&b).Debug("shown")
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil || rec["msg"] != "shown" || rec["time"] == nil {
		t.Errorf("json -v: %q (%v)", b.String(), err)
	}
	b.Reset()
	l = logFlags{logLevel: "info", logFormat: "text", quiet: true}
	l.logger(&b).Info("progress")
	l.logger(&b).Warn("warning")
	if s := b.String(); strings.Contains(s, "progress") || !strings.Contains(s, "warning") {
		t.Errorf("-quiet: %q", s)
	}
	b.Reset()
	l = logFlags{logLevel: "error", logFormat: "text", verbose: true}
	l.logger(&b).Warn("warning")
	if b.Len() != 0 {
		t.Errorf("-log-level error -v: %q", b.String())
	}
	for _, bad := range []logFlags{{logLevel: "loud"}, {logLevel: "info", logFormat: "xml"}} {
		if err := bad.check(); exitCode(err) != ExitUsage {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	// Every command has the logging flags.
	for _, c := range commands() {
		code, out, _ := mainEnv(t, nil, c.name, "-h")
		for _, f := range []string{" -verbose, -v ", " -log-level ", " -log-format ", " -quiet "} {
			if code != ExitOK || !strings.Contains(out, f) {
				t.Errorf("%s -h: no %s", c.name, f)
			}
		}
	}
}

// TestAccountRegisterFailureIsReported: a CA that refuses the
// registration makes "account register" fail, not print an empty
// account and exit 0.
func TestAccountRegisterFailureIsReported(t *testing.T) {
	t.Parallel()
	ca := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"type":"urn:ietf:params:acme:error:unauthorized","detail":"no"}`))
	}))
	defer ca.Close()
	for _, sub := range []string{"register", "rollover"} {
		code, out, errs := mainEnv(t, nil, "account", sub, "-ca", ca.URL+"/dir", "-store", t.TempDir(), "-agree-tos", "-timeout", "20s")
		if code == ExitOK || strings.Contains(out, `"url"`) {
			t.Errorf("account %s at a CA that refuses: exit %d, stdout %q, stderr %q", sub, code, out, errs)
		}
	}
}
