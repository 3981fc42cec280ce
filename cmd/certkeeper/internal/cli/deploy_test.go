package cli

import (
	"strings"
	"sync"
	"testing"

	"github.com/certkeeper/certkeeper/acmetest"
)

// A deploy hook that fails makes the command fail, saying the certificate
// is stored: a cron job must not report success when nginx was not
// reloaded.
func TestDeployHookFailureFailsTheCommand(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	hook := writeFile(t, t.TempDir(), "fail.sh", "#!/bin/sh\necho reload failed >&2\nexit 3\n", 0o700)
	r := e.obtain("-http-listen", e.httpAddr(), "-deploy-hook", hook, "hookfail.example.test")
	if r.code != ExitError || !strings.Contains(r.stderr, "deploy hook failed") {
		t.Errorf("obtain with a failing deploy hook: want exit 1 saying so; got\n%v", r)
	}
	if serialOf(t, e.store, e.ca(), "hookfail.example.test") == "" {
		t.Error("the certificate was not stored")
	}
	r = runCLI(t.Context(), "renew", "-store", e.store, "-force")
	if r.code != ExitPartial || !strings.Contains(r.stderr, "deploy hook failed") ||
		!strings.Contains(r.stderr, "1 of 1 certificates renewed and stored, but a deploy hook failed") ||
		strings.Contains(r.stderr, "failed to renew") {
		t.Errorf("renew with a failing deploy hook: want exit 6 saying the certificate is renewed and its hook failed, not that it failed to renew; got\n%v", r)
	}
}

// Two obtains of different names at once through one -http-listen port:
// the second waits for the port instead of failing on it.
func TestObtainConcurrentTwoNamesOnePort(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	var wg sync.WaitGroup
	results := make([]cliResult, 2)
	for i, name := range []string{"port1.example.test", "port2.example.test"} {
		wg.Go(func() { results[i] = e.obtain("-http-listen", e.httpAddr(), name) })
	}
	wg.Wait()
	for _, r := range results {
		if r.code != ExitOK {
			t.Errorf("concurrent obtain failed: %v", r)
		}
	}
}
