package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Each child links only its own client, so that the memory ckbench reports
// for a row is that client's: of the other two clients only their package
// initialisation remains (they are imported by package bench), a few
// hundred bytes, against tens of kilobytes of the child's own client.
func TestChildLinksOneClient(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three binaries")
	}
	clients := map[string]string{ // build tag: symbol prefix of its client
		"ckchild_certkeeper": "github.com/certkeeper/certkeeper/issue.",
		"ckchild_xcrypto":    "golang.org/x/crypto/acme.",
		"ckchild_acmez":      "github.com/mholt/acmez/v3.",
	}
	const initOnly = 4 << 10
	for tag := range clients {
		bin := filepath.Join(t.TempDir(), "ckchild")
		build := exec.Command("go", "build", "-tags", "ckchild,"+tag, "-o", bin, ".") // as ckbench builds it
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build -tags %s: %v\n%s", tag, err, out)
		}
		out, err := exec.Command("go", "tool", "nm", "-size", bin).Output()
		if err != nil {
			t.Fatalf("go tool nm: %v", err)
		}
		// Nor any of the harness a child does not run: Pebble's starter
		// and what it brings.
		for _, prefix := range []string{"github.com/certkeeper/certkeeper/acmetest.", "testing.", "github.com/miekg/dns."} {
			for _, line := range strings.Split(string(out), "\n") {
				if f := strings.Fields(line); len(f) >= 4 && strings.HasPrefix(f[3], prefix) {
					t.Errorf("%s links %s (%s...)", tag, f[3], prefix)
					break
				}
			}
		}
		for other, prefix := range clients {
			size := 0
			for _, line := range strings.Split(string(out), "\n") {
				// address size type name
				f := strings.Fields(line)
				if len(f) >= 4 && strings.HasPrefix(f[3], prefix) {
					n, _ := strconv.Atoi(f[1])
					size += n
				}
			}
			switch {
			case other == tag && size < initOnly:
				t.Errorf("%s: only %d bytes of its own client %s", tag, size, prefix)
			case other != tag && size >= initOnly:
				t.Errorf("%s links %d bytes of %s", tag, size, prefix)
			}
		}
	}
}
