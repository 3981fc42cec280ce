package cli

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
)

// A port in use is reported by the flag (on the command line) or the
// file's key (in the daemon), with the other setting to use named the
// same way: not by the solver's type ("http01 standalone") nor by the
// library's words ("webroot"). Nothing is sent to the CA.
func TestBusyPortNamesTheSetting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := busyAddr(t)

	code, _, errs := mainEnv(t, nil, "obtain", "-ca", "https://127.0.0.1:1/dir", "-store", filepath.Join(dir, "store"), "-agree-tos",
		"-http-listen", addr, "a.example.test")
	want := "certkeeper obtain: -http-listen: " + addr + " is already in use (another program serves this port: answer http-01 from its document root with -http-webroot, or stop it)\n"
	if code != ExitError || errs != want {
		t.Errorf("obtain: exit %d, stderr\n%s\nwant exit %d, stderr\n%s", code, errs, ExitError, want)
	}

	path := writeConfig(t, fmt.Sprintf("store = %q\n[solvers]\nhttp-listen = %q\n[[certificate]]\ndomains = [\"a.example.test\"]\n", filepath.Join(dir, "store"), addr))
	code, errs = runCheck(t, path)
	want = "solvers.http-listen: " + addr + " is already in use (another program serves this port: answer http-01 from its document root with http-webroot, or stop it)"
	if code != ExitUsage || !strings.Contains(errs, want) || strings.Contains(errs, "standalone") {
		t.Errorf("run -check: exit %d, stderr\n%s\nwant exit %d and\n%s", code, errs, ExitUsage, want)
	}
}

// -tsig-algorithm without -tsig-name is refused before any request, even
// when it names the default algorithm (it used to be dropped silently and
// the update sent unsigned), from the flag and from its variable alike.
func TestTSIGAlgorithmNeedsName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vars map[string]string
		args []string
	}{
		{nil, []string{"-tsig-algorithm", "hmac-sha256"}},
		{nil, []string{"-tsig-algorithm", "hmac-sha512"}},
		{map[string]string{"CERTKEEPER_TSIG_ALGORITHM": "hmac-sha256"}, nil},
	} {
		args := append([]string{"obtain", "-ca", "https://127.0.0.1:1/dir", "-store", filepath.Join(t.TempDir(), "store"), "-agree-tos",
			"-dns-provider", "rfc2136", "-dns-server", "127.0.0.1:53"}, tc.args...)
		code, _, errs := mainEnv(t, tc.vars, append(args, "a.example.test")...)
		if code != ExitUsage || !strings.Contains(errs, "-tsig-algorithm: needs -tsig-name") || strings.Contains(errs, "127.0.0.1:1") {
			t.Errorf("%v %v: exit %d, stderr %s", tc.vars, tc.args, code, errs)
		}
	}
}

// A subcommand's error names the command once: "certkeeper account
// update: …", not "certkeeper account: account update: …".
func TestAccountUpdateUsageNamesCommandOnce(t *testing.T) {
	t.Parallel()
	code, _, errs := mainEnv(t, nil, "account", "update", "-store", filepath.Join(t.TempDir(), "store"))
	want := "certkeeper account update: give what to change: -contact URL (replaces the contacts), -add-contact URL or -remove-contact URL; nothing was changed\n"
	if code != ExitUsage || errs != want {
		t.Errorf("exit %d, stderr\n%s\nwant exit %d, stderr\n%s", code, errs, ExitUsage, want)
	}
	code, _, errs = mainEnv(t, nil, "account", "show", "-store", filepath.Join(t.TempDir(), "none"))
	if code == ExitOK || !strings.HasPrefix(errs, "certkeeper account show: ") {
		t.Errorf("account show of a missing store: exit %d, stderr %s", code, errs)
	}
}

// Where the solvers are built from a record (the daemon, renew), a busy
// port is reported in the user's words too: the daemon names the file's
// keys, renew the flags the certificate was obtained with.
func TestBusyPortAtRunTimeNamesTheSetting(t *testing.T) {
	t.Parallel()
	t.Run("daemon", func(t *testing.T) {
		t.Parallel()
		addr := busyAddr(t)
		path := writeConfig(t, daemonFile("https://"+freeAddr(t)+"/dir", "", filepath.Join(t.TempDir(), "store"), fastRenewal,
			fmt.Sprintf("[solvers]\nhttp-listen = %q\n", addr), "[[certificate]]\nnames = [\"busy.example.test\"]\n"))
		d := startDaemon(t, path)
		want := "solvers: http-listen: " + addr + " is already in use (another program serves this port: answer http-01 from its document root with http-webroot, or stop it)"
		eventually(t, 30*time.Second, want, func() bool { return strings.Contains(d.log.String(), want) })
		if strings.Contains(d.log.String(), "http01.listen") {
			t.Errorf("the daemon names solverset's key:\n%s", d.log.String())
		}
	})
	t.Run("renew", func(t *testing.T) {
		t.Parallel()
		e := newLineageEnv(t, acmetest.PebbleOptions{})
		e.mustObtain("-http-listen", e.httpAddr(), "busy.example.test")
		ln, err := net.Listen("tcp", e.httpAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		r := e.renew("-force")
		want := "-http-listen: " + e.httpAddr() + " is already in use (another program serves this port: answer http-01 from its document root with -http-webroot, or stop it)"
		if r.code == ExitOK || !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "http01.listen") {
			t.Errorf("renew with the port taken: want a failure saying\n%s\ngot %v", want, r)
		}
	})
}
