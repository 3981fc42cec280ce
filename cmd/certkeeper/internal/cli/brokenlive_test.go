package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acmetest"
)

// TestRenewBrokenLiveRenewsNothing: a certificate whose live link is
// missing (a backup tool that drops symbolic links), dangling (the
// version it named deleted by hand) or leads to a version without its
// chain is read from the newest whole version: list shows it, renew
// without -force orders nothing (it used to order a new certificate,
// taking it for missing), and the next save makes live and the files at
// the top right again.
func TestRenewBrokenLiveRenewsNothing(t *testing.T) {
	t.Parallel()
	const name = "brokenlive.example.test"
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, dir string)
	}{
		{"live and the top-level links missing", func(t *testing.T, dir string) {
			for _, f := range []string{"live", "cert.pem", "key.pem", "combined.pem", "meta.json"} {
				if err := os.Remove(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"live to a missing version", func(t *testing.T, dir string) {
			replaceWithLink(t, filepath.Join(dir, "live"), "versions/99")
		}},
		{"live to a version without its chain", func(t *testing.T, dir string) {
			if err := os.MkdirAll(filepath.Join(dir, "versions", "2"), 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "versions", "2"), "key.pem", "half a version\n", 0o600)
			replaceWithLink(t, filepath.Join(dir, "live"), "versions/2")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newLineageEnv(t, acmetest.PebbleOptions{})
			e.mustObtain("-http-listen", e.httpAddr(), name)
			dir := e.certDirOf(name)
			want, err := os.ReadFile(filepath.Join(dir, "versions", "1", "cert.pem"))
			if err != nil {
				t.Fatal(err)
			}
			tc.break_(t, dir)
			orders := e.proxy.orders()

			if r := e.list(); r.code != ExitOK || !strings.Contains(r.stdout, name) {
				t.Errorf("list with a broken live link: want exit 0 and the certificate; got\n%v", r)
			}
			r := e.renew()
			if r.code != ExitOK || !strings.Contains(r.stdout, "nothing to renew") {
				t.Errorf("renew with a broken live link: want nothing to renew; got\n%v", r)
			}
			e.requireNoNewOrder(orders, r)
			if !strings.Contains(r.stderr, "link to the current version of the certificate is broken") {
				t.Errorf("renew with a broken live link: want a warning saying so; got\n%v", r)
			}

			// The next save (here forced) makes live right, and the
			// files at the top through it.
			if r := e.renew("-force"); r.code != ExitOK || !strings.Contains(r.stdout, name) {
				t.Fatalf("renew -force: %v", r)
			}
			live, err := os.Readlink(filepath.Join(dir, "live"))
			if err != nil || !strings.HasPrefix(live, "versions/") {
				t.Fatalf("live -> %q (%v) after the save, want a version", live, err)
			}
			got, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
			if err != nil || len(got) == 0 || string(got) == string(want) {
				t.Errorf("cert.pem at the top after the save: %v; want the new chain", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "key.pem")); err != nil {
				t.Errorf("key.pem at the top after the save: %v", err)
			}
		})
	}
}
