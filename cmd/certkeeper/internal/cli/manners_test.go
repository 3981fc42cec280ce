package cli

import (
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acmetest"
)

// list, renew and revoke of names the store does not have say so in one
// wording, without Go's "file does not exist", every line of the message
// saying which command it is from.
func TestNoCertificateOneWording(t *testing.T) {
	t.Parallel()
	e := newLineageEnv(t, acmetest.PebbleOptions{})
	e.mustObtain("-http-listen", e.httpAddr(), "have.example.test")
	orders := e.proxy.orders()
	for _, tc := range []struct {
		cmd   string
		r     cliResult
		names []string
	}{
		{"list", e.list("nope1.example.test", "nope2.example.test"), []string{"nope1.example.test", "nope2.example.test"}},
		{"renew", e.renew("-force", "-http-listen", e.httpAddr(), "nope1.example.test", "nope2.example.test"), []string{"nope1.example.test", "nope2.example.test"}},
		{"revoke", runCLI(t.Context(), "revoke", "-store", e.store, "nope1.example.test"), []string{"nope1.example.test"}},
	} {
		if tc.r.code == ExitOK || strings.Contains(tc.r.stderr, "file does not exist") {
			t.Errorf("%s: want a failure without Go's words; got\n%v", tc.cmd, tc.r)
		}
		for _, n := range tc.names {
			if !strings.Contains(tc.r.stderr, "certkeeper "+tc.cmd+": the store has no certificate "+n+"\n") {
				t.Errorf("%s: want the line %q; got\n%v", tc.cmd, "certkeeper "+tc.cmd+": the store has no certificate "+n, tc.r)
			}
		}
		for _, line := range strings.Split(strings.TrimSuffix(tc.r.stderr, "\n"), "\n") {
			if !strings.HasPrefix(line, "certkeeper "+tc.cmd+": ") {
				t.Errorf("%s: line %q lacks the prefix", tc.cmd, line)
			}
		}
	}
	e.requireNoNewOrder(orders, e.list())
}
