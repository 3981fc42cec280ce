//go:build unix

package cli

// The daemon's [[hook]]s are the hooks of the file's certificates,
// recorded in their lineages: they run once per event wherever the order
// ran, the daemon or "certkeeper renew" from cron beside it.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/cmd/certkeeper/internal/config"
	"github.com/certkeeper/certkeeper/store"
)

// markerHook writes a hook program that appends a line
// "EVENT NAME NOT_AFTER" to a file for each run, and returns the
// program's path and a function reading the lines written so far.
func markerHook(t *testing.T) (string, func() []string) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "runs")
	path := writeFile(t, dir, "reload.sh",
		// The certificate's digest tells one certificate from the
		// next: two renewals in one second (Pebble's renewal window for
		// a certificate of 20 s is its whole life) share a not-after.
		"#!/bin/sh\necho \"$CERTKEEPER_EVENT $CERTKEEPER_NAME $CERTKEEPER_NOT_AFTER $(sha256sum < \"$CERTKEEPER_CERT_PATH\" | cut -c1-16)\" >> "+log+"\n", 0o755)
	return path, func() []string {
		b, err := os.ReadFile(log)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' })
	}
}

// hookTable is a [[hook]] running prog on obtained and renewed, or ""
// for prog "".
func hookTable(prog string) string {
	if prog == "" {
		return ""
	}
	return fmt.Sprintf("[[hook]]\nevents = [\"obtained\", \"renewed\"]\ncommand = %q\ntimeout = \"30s\"\n", prog)
}

// A certificate of the daemon's file renewed by "certkeeper renew -force"
// (cron, beside the running daemon) runs the file's [[hook]], once: it
// is recorded in the certificate's lineage. The daemon, which did not
// order, runs none. A [[hook]] changed in the file and reloaded replaces
// the one recorded; one removed is no longer recorded.
func TestDaemonHookRunsOnceWhenRenewRenews(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	prog, runs := markerHook(t)
	const name = "cronhook.example.test"
	certTable := "[[certificate]]\nnames = [\"" + name + "\"]\n"
	config := func(hook string) string {
		return lineageDaemonConfig(e.ca(), e.root, e.store, e.httpAddr(), hookTable(hook)+"\n"+certTable)
	}
	path := writeConfig(t, config(prog))
	d := startDaemon(t, path)
	eventually(t, time.Minute, "the daemon's obtained hook", func() bool { return len(runs()) > 0 })
	if r := runs(); len(r) != 1 || !strings.HasPrefix(r[0], "obtained "+name+" ") {
		t.Fatalf("hook runs after the daemon obtained the certificate: %q, want one for obtained", r)
	}
	certs := openCerts(t, e.store)
	l, err := certs.LoadLineage(t.Context(), e.ca(), name)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.LineageHook{{Command: prog, Events: []string{"obtained", "renewed"}, Timeout: "30s"}}
	if !slices.EqualFunc(l.Hooks, want, hookEqual) {
		t.Errorf("lineage hooks %+v, want the file's %+v", l.Hooks, want)
	}

	first := serialOf(t, e.store, e.ca(), name)
	if r := e.renew("-force", name); r.code != ExitOK {
		t.Fatalf("renew -force beside the daemon: %v", r)
	}
	renewed := serialOf(t, e.store, e.ca(), name)
	if renewed == first {
		t.Fatalf("renew -force left serial %s", first)
	}
	r := runs()
	if len(r) != 2 || !strings.HasPrefix(r[1], "renewed "+name+" ") {
		t.Errorf("hook runs after renew -force: %q, want the daemon's obtained and one renewed", r)
	}

	// The daemon takes up the certificate renew stored (a reload loads
	// it) and runs no hook for it; renew again has nothing to do.
	before := strings.Count(d.log.String(), "configuration reloaded")
	d.reload <- struct{}{}
	eventually(t, 30*time.Second, "the reload", func() bool {
		return strings.Count(d.log.String(), "configuration reloaded") > before
	})
	if res := e.renew(); res.code != ExitOK || !strings.Contains(res.stdout, "nothing to renew") {
		t.Errorf("renew with nothing due: %v", res)
	}
	if got := runs(); len(got) != 2 {
		t.Errorf("hook runs after the daemon's reload and a renew with nothing due: %q, want still 2", got)
	}

	// Another hook in the file, reloaded: the lineage records it instead,
	// and renew runs it, not the one removed.
	prog2, runs2 := markerHook(t)
	writeFile(t, filepath.Dir(path), filepath.Base(path), config(prog2), 0o644)
	d.reload <- struct{}{}
	eventually(t, 30*time.Second, "the changed hook in the lineage", func() bool {
		l, err := certs.LoadLineage(t.Context(), e.ca(), name)
		return err == nil && len(l.Hooks) == 1 && l.Hooks[0].Command == prog2
	})
	if r := e.renew("-force", name); r.code != ExitOK {
		t.Fatalf("renew -force after the hook changed: %v", r)
	}
	if got := runs2(); len(got) != 1 || !strings.HasPrefix(got[0], "renewed "+name+" ") {
		t.Errorf("the new hook's runs: %q, want one for renewed", got)
	}
	if got := runs(); len(got) != 2 {
		t.Errorf("the removed hook ran again: %q", got)
	}

	// No [[hook]] left: none recorded.
	writeFile(t, filepath.Dir(path), filepath.Base(path), config(""), 0o644)
	d.reload <- struct{}{}
	eventually(t, 30*time.Second, "the lineage without hooks", func() bool {
		l, err := certs.LoadLineage(t.Context(), e.ca(), name)
		return err == nil && len(l.Hooks) == 0
	})
}

// A certificate the daemon renews itself runs the file's [[hook]] once
// per renewal: the daemon runs the lineage's hooks, not them and the
// file's besides.
func TestDaemonHookRunsOnceWhenDaemonRenews(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{Profiles: map[string]acmetest.Profile{
		"short": {ValidityPeriod: 20 * time.Second},
	}})
	prog, runs := markerHook(t)
	const name = "selfhook.example.test"
	path := writeConfig(t, daemonFile(e.ca(), e.root, e.store,
		"[renewal]\ncheck_interval = \"1s\"\nrenew_fraction = 0.75\nbackoff = [\"1s\"]\n",
		fmt.Sprintf("[solvers.http01]\nlisten = %q\n", e.httpAddr()),
		hookTable(prog),
		"[[certificate]]\nnames = [\""+name+"\"]\nprofile = \"short\"\n"))
	d := startDaemon(t, path)
	eventually(t, 2*time.Minute, "the hook of a renewal by the daemon", func() bool {
		return slices.ContainsFunc(runs(), func(s string) bool { return strings.HasPrefix(s, "renewed ") })
	})
	if code := d.stop(t); code != ExitOK {
		t.Errorf("daemon exit %d", code)
	}
	got := runs()
	if len(got) == 0 || !strings.HasPrefix(got[0], "obtained "+name+" ") {
		t.Fatalf("hook runs %q, want obtained first", got)
	}
	// Each certificate's hook ran once: no line twice, and one line per
	// event the daemon logged.
	seen := map[string]bool{}
	for _, s := range got {
		if seen[s] {
			t.Errorf("the hook ran twice for %q: %q", s, got)
		}
		seen[s] = true
	}
	events := strings.Count(d.log.String(), `msg="certificate obtained"`) + strings.Count(d.log.String(), `msg="certificate renewed"`)
	if len(got) != events {
		t.Errorf("%d hook runs for %d events obtained or renewed: %q", len(got), events, got)
	}
}

func hookEqual(a, b store.LineageHook) bool {
	return a.Command == b.Command && a.Timeout == b.Timeout && slices.Equal(a.Args, b.Args) && slices.Equal(a.Events, b.Events)
}

// The store's certificates that are not in the file run the file's
// [[hook]]s too when the daemon renews them, besides their own, each
// once: one obtained with "obtain -deploy-hook", and one removed from
// the file whose lineage still records the [[hook]] (not run twice).
func TestDaemonHookRunsOnceForStoredCertificates(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{Profiles: map[string]acmetest.Profile{
		"short": {ValidityPeriod: 20 * time.Second},
	}})
	prog, runs := markerHook(t)
	own, ownRuns := markerHook(t)
	const cli, removed = "cli.stored.example.test", "removed.stored.example.test"
	e.mustObtain("-http-listen", e.httpAddr(), "-profile", "short", "-deploy-hook", own, cli)
	config := func(cert string) string {
		return daemonFile(e.ca(), e.root, e.store,
			"[renewal]\ncheck_interval = \"1s\"\nrenew_fraction = 0.75\nbackoff = [\"1s\"]\n",
			fmt.Sprintf("[solvers.http01]\nlisten = %q\n", e.httpAddr()),
			hookTable(prog), cert)
	}
	path := writeConfig(t, config("[[certificate]]\nnames = [\""+removed+"\"]\nprofile = \"short\"\n"))
	d := startDaemon(t, path)
	renewedBy := func(lines []string, name string) int {
		n := 0
		for _, s := range lines {
			if strings.HasPrefix(s, "renewed "+name+" ") {
				n++
			}
		}
		return n
	}
	eventually(t, 2*time.Minute, "the daemon's renewal of both certificates", func() bool {
		return renewedBy(runs(), cli) > 0 && renewedBy(runs(), removed) > 0
	})

	// The file's certificate removed: still renewed, from its lineage.
	writeFile(t, filepath.Dir(path), filepath.Base(path), config("[[certificate]]\nnames = [\"kept.stored.example.test\"]\n"), 0o644)
	d.reload <- struct{}{}
	eventually(t, 30*time.Second, "the reload", func() bool {
		return strings.Contains(d.log.String(), "configuration reloaded")
	})
	after := renewedBy(runs(), removed)
	eventually(t, 2*time.Minute, "a renewal of the certificate removed from the file", func() bool {
		return renewedBy(runs(), removed) > after
	})
	if code := d.stop(t); code != ExitOK {
		t.Errorf("daemon exit %d", code)
	}
	for what, lines := range map[string][]string{"the [[hook]]": runs(), "the deploy hook": ownRuns()} {
		seen := map[string]bool{}
		for _, s := range lines {
			if seen[s] {
				t.Errorf("%s ran twice for %q: %q", what, s, lines)
			}
			seen[s] = true
		}
	}
	if n := renewedBy(ownRuns(), cli); n == 0 || n != renewedBy(runs(), cli) {
		t.Errorf("%s renewed: the deploy hook ran %d times, the [[hook]] %d times; want the same, more than 0", cli, n, renewedBy(runs(), cli))
	}
	if n := renewedBy(ownRuns(), removed); n != 0 {
		t.Errorf("the deploy hook of %s ran for %s", cli, removed)
	}
}

// The lineages of the file's certificates record its [[hook]]s as the
// file says them (command, arguments, events, timeout), a relative path
// made absolute for a cron job that runs elsewhere.
func TestFileLineagesRecordTheHooks(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(daemonFile(unreachableCA, "", "/var/lib/certkeeper", `[solvers]
http-webroot = "/var/www"

[[hook]]
command = "hooks/reload.sh"

[[hook]]
events = ["renewed", "failed"]
command = "systemctl"
args = ["reload", "nginx"]
timeout = "2m"

[[certificate]]
names = ["a.example.test"]

[[certificate]]
names = ["b.example.test"]
`)))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := fileLineages(cfg)
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs("hooks/reload.sh")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.LineageHook{
		{Command: abs},
		{Command: "systemctl", Args: []string{"reload", "nginx"}, Events: []string{"renewed", "failed"}, Timeout: "2m0s"},
	}
	if len(ls) != 2 {
		t.Fatalf("%d lineages, want 2", len(ls))
	}
	for _, l := range ls {
		if !slices.EqualFunc(l.Hooks, want, hookEqual) {
			t.Errorf("%s records hooks %+v, want %+v", l.Name, l.Hooks, want)
		}
	}
}
