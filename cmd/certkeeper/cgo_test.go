package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The released binary is built with CGO_ENABLED=0 (docs/releasing.md): the
// only C in the command's build may be package net's libc resolver (and the
// runtime/cgo it brings), which the pure-Go resolver replaces. A dependency
// with C code of its own would make that build lose a feature or fail.
func TestOnlyNetUsesCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("integration tier (runs go list)")
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if .CgoFiles}}{{.ImportPath}}{{end}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{"net", "runtime/cgo"}
	for _, p := range strings.Fields(string(out)) {
		if !slices.Contains(allowed, p) {
			t.Errorf("package %s of the command's build has C code; the release is built with CGO_ENABLED=0 (docs/releasing.md)", p)
		}
	}
}
