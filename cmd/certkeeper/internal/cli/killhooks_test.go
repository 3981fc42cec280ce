//go:build unix

package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
)

// TestRenewKilledBeforeDeployHookRunsItLater kills "certkeeper renew
// -force" after it stored the new certificate (live) and before its
// deploy hook ran (the renewal information request that comes between
// them held at the proxy). The next "certkeeper renew", nothing being due,
// runs the deploy hook for that certificate, once, as a renewal, and
// orders nothing; the one after it runs nothing. Before, the hook never
// ran for it, and the server it reloads kept the old certificate.
func TestRenewKilledBeforeDeployHookRunsItLater(t *testing.T) {
	t.Parallel()
	bin := certkeeperBinary(t)
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	webroot := t.TempDir()
	serveHTTP01(t, e.httpAddr(), webroot, func() bool { return false }, nil, nil)
	log := filepath.Join(t.TempDir(), "deployed")
	hook := writeFile(t, t.TempDir(), "deploy.sh",
		"#!/bin/sh\necho \"$CERTKEEPER_EVENT $CERTKEEPER_NAME $CERTKEEPER_NOT_AFTER\" >> "+log+"\n", 0o700)
	deployed := func() []string {
		b, err := os.ReadFile(log)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' })
	}
	const name = "killhook.example.test"
	r := runCertkeeper(t, bin, append(append([]string{"obtain"}, e.caFlags()...), "-http-webroot", webroot, "-deploy-hook", hook, name))
	if r.code != ExitOK {
		t.Fatalf("obtain: %v", r)
	}
	if d := deployed(); len(d) != 1 || !strings.HasPrefix(d[0], "obtained "+name) {
		t.Fatalf("deploy hook after obtain: %q, want one run for obtained", d)
	}
	first := serialOf(t, e.store, e.ca(), name)

	// Hold the renewal information request that follows the download of
	// the new certificate: by then it is stored and live.
	reached := make(chan string, 1)
	var mu sync.Mutex
	downloaded, held := false, false
	e.proxy.setHook(func(r *http.Request, body []byte, answered bool) {
		mu.Lock()
		if answered && strings.Contains(r.URL.Path, "/certZ/") {
			downloaded = true
		}
		hold := downloaded && !held && !answered && strings.Contains(r.URL.Path, "renewalInfo")
		held = held || hold
		mu.Unlock()
		if hold {
			reached <- r.Method + " " + r.URL.Path
			<-r.Context().Done()
		}
	})
	renew := startCertkeeper(t, bin, []string{"renew", "-store", e.store, "-force"})
	select {
	case what := <-reached:
		t.Logf("held: %s", what)
	case <-renew.done:
		t.Fatalf("the renewal ended before the point it is killed at:\n%v", renew.result())
	case <-time.After(killWait):
		renew.stop()
		t.Fatalf("the renewal never reached the point it is killed at:\n%v", renew.result())
	}
	// The store's save is done before the renewal information is asked
	// for (the hold is after it): what is live is the new certificate.
	renewed := serialOf(t, e.store, e.ca(), name)
	renew.kill(t)
	e.proxy.setHook(nil)
	if renewed == first || renewed == "" {
		t.Fatalf("killed with serial %q live, want a new one (was %s)", renewed, first)
	}
	if d := deployed(); len(d) != 1 {
		t.Fatalf("deploy hook ran %q before the kill; want only the obtain's run", d)
	}
	orders := e.proxy.ordersPlaced()

	r = runCertkeeper(t, bin, []string{"renew", "-store", e.store})
	if r.code != ExitOK {
		t.Errorf("renew after the kill: %v", r)
	}
	d := deployed()
	if len(d) != 2 || !strings.HasPrefix(d[1], "renewed "+name+" ") {
		t.Errorf("deploy hook runs after the kill: %q, want the obtain's and one for renewed", d)
	}
	if got := serialOf(t, e.store, e.ca(), name); got != renewed {
		t.Errorf("serial live after renew: %s, want %s, the one the killed run stored", got, renewed)
	}
	if n := e.proxy.ordersPlaced(); n != orders {
		t.Errorf("renew after the kill placed %d orders, want none", n-orders)
	}
	if p, _ := pendingOrderOf(t, e.store); p != "" {
		t.Errorf("pending order %s left after the hooks ran", p)
	}

	if r = runCertkeeper(t, bin, []string{"renew", "-store", e.store}); r.code != ExitOK {
		t.Errorf("renew again: %v", r)
	}
	if d := deployed(); len(d) != 2 {
		t.Errorf("deploy hook runs after renewing again: %q, want no more", d)
	}
}
