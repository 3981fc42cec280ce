package solver

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDNSClientStaysInDNS01 guards the module graph a user of the
// http-01 and tls-alpn-01 solvers, the order flow and the manager links:
// the DNS client (miekg/dns) is reached only through solver/dns01 and the
// DNS providers, never through challenge, issue, manager, autotls or the
// other solvers.
func TestDNSClientStaysInDNS01(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const mod = "github.com/certkeeper/certkeeper/"
	pkgs := []string{"challenge", "issue", "manager", "autotls", "solver", "solver/http01", "solver/tlsalpn01", "solver/shared"}
	for _, p := range pkgs {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", mod+p).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", p, err, out)
		}
		deps := strings.Fields(string(out))
		if !slices.Contains(deps, mod+p) {
			t.Fatalf("go list %s did not list the package itself: %q", p, deps)
		}
		if slices.Contains(deps, "github.com/miekg/dns") {
			t.Errorf("%s links github.com/miekg/dns; only solver/dns01 and the DNS providers may", p)
		}
	}
}
