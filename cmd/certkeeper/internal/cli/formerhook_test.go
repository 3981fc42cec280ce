package cli

import (
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acmetest"
)

// A lineage recorded with the former dns01.hook (before -dns-hook became
// a spelling of -dns-provider exec) still renews: the record is read as
// the exec provider without a propagation check, and the same program is
// run with the same words. Not parallel: the hook's URL is set through
// the environment.
func TestFormerHookLineageRenews(t *testing.T) {
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	hook := startDNSHook(t, e)
	const name = "former-hook.example.test"
	e.mustObtain("-dns-provider", "exec", "-dns-exec", hook.exe, "-dns-zone", "example.test", "-dns-no-propagation-check", name)
	before := serialOf(t, e.store, e.ca(), name)

	// Write the record as an older certkeeper did for -dns-hook.
	certs := openCerts(t, e.store)
	l, err := certs.LoadLineage(t.Context(), e.ca(), name)
	if err != nil {
		t.Fatal(err)
	}
	l.Solvers = []byte(`{"dns01":{"hook":"` + hook.exe + `","delay":"10ms"}}`)
	if err := certs.SaveLineage(t.Context(), l); err != nil {
		t.Fatal(err)
	}
	hook.called() // forget the obtain's calls

	r := e.renew("-force")
	if r.code != ExitOK {
		t.Fatalf("renew of a lineage with the former hook: %v", r)
	}
	if after := serialOf(t, e.store, e.ca(), name); after == before {
		t.Error("renew succeeded but the certificate was not replaced")
	}
	want := "present _acme-challenge." + name + ".|cleanup _acme-challenge." + name + "."
	if got := strings.Join(hook.called(), "|"); got != want {
		t.Errorf("hook calls %q, want %q", got, want)
	}
}
