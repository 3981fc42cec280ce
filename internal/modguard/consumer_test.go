package modguard

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// consumerModules is the whole module graph of a program that imports
// acme (and whatever else of the core module's packages): the program,
// certkeeper, and what the core's packages themselves need. No test CA,
// metrics client, TOML parser or CLI library: those belong to the nested
// modules (docs/releasing.md).
var consumerModules = []string{
	"example.test/consumer",
	"github.com/certkeeper/certkeeper",
	"github.com/go-jose/go-jose/v4",
	"github.com/miekg/dns",
	"golang.org/x/net",
	"golang.org/x/sys",
	"golang.org/x/text",
	"golang.org/x/time",
}

// TestConsumerGraph builds a program of its own module that imports acme,
// pointed at this tree by a replace in its go.mod only, and checks that
// `go list -m all` is exactly consumerModules.
func TestConsumerGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("integration tier (runs the go command on a consumer module): skipped under -short")
	}
	root := repoRoot(t)
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.test/consumer\n\ngo 1.26.0\n\n" +
			"require github.com/certkeeper/certkeeper v0.1.0\n\n" +
			"replace github.com/certkeeper/certkeeper => " + root + "\n",
		"main.go": "package main\n\nimport \"github.com/certkeeper/certkeeper/acme\"\n\n" +
			"func main() { _ = new(acme.Client) }\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		// The module proxy and cache as configured; no workspace.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	run("build", "./...")
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(run("list", "-m", "all")), "\n") {
		got = append(got, strings.Fields(line)[0])
	}
	if !slices.Equal(got, consumerModules) {
		t.Errorf("a program importing acme has %d modules in its graph, want %d:\n%s\nwant:\n%s",
			len(got), len(consumerModules), strings.Join(got, "\n"), strings.Join(consumerModules, "\n"))
	}
}
