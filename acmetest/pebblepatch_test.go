package acmetest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testPatch marks the help text of pebble's -version flag: harmless, and
// visible in the output of pebble -h.
var testPatch = PebblePatch{
	File: "cmd/pebble/main.go",
	Old:  `"Print the software version")`,
	New:  `"Print the software version (patched by acmetest)")`,
}

// A patch replaces its text where it stands exactly once, and refuses
// with ErrPatchMismatch where it is missing, repeated or empty.
func TestPebblePatchApply(t *testing.T) {
	p := PebblePatch{File: "x.go", Old: "b := 1\n", New: "b := 2\n"}
	got, err := p.Apply("a := 0\nb := 1\nc := 2\n")
	if err != nil || got != "a := 0\nb := 2\nc := 2\n" {
		t.Fatalf("Apply = %q, %v", got, err)
	}
	for name, c := range map[string]struct {
		p   PebblePatch
		src string
	}{
		"absent":    {p, "a := 0\n"},
		"twice":     {p, "b := 1\nb := 1\n"},
		"moved":     {p, "b  := 1\n"},
		"empty old": {PebblePatch{File: "x.go", New: "y"}, "a := 0\n"},
	} {
		if got, err := c.p.Apply(c.src); !errors.Is(err, ErrPatchMismatch) || got != "" {
			t.Errorf("%s: Apply = %q, %v, want ErrPatchMismatch", name, got, err)
		}
	}
}

// The digest in the replacement's name tells one list of patches from
// another, so that a changed patch is rebuilt rather than reused.
func TestPatchedReplacement(t *testing.T) {
	a := patchedReplacement("x", []PebblePatch{testPatch})
	if !strings.HasPrefix(a, "./pebble-x-") {
		t.Errorf("replacement %q", a)
	}
	if b := patchedReplacement("x", []PebblePatch{testPatch}); a != b {
		t.Errorf("the same patches give %q and %q", a, b)
	}
	moved := PebblePatch{File: testPatch.File, Old: testPatch.Old[:3], New: testPatch.Old[3:] + testPatch.New}
	for _, other := range [][]PebblePatch{
		{{File: testPatch.File, Old: testPatch.Old, New: testPatch.New + " "}},
		{moved},
		{testPatch, testPatch},
	} {
		if b := patchedReplacement("x", other); a == b {
			t.Errorf("patches %q share the replacement %q", other, a)
		}
	}
}

// Bad arguments are refused before anything is built or locked.
func TestBuildPatchedPebbleBadArguments(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a build that started would end with context.Canceled
	for name, c := range map[string]struct {
		dir, name string
		patches   []PebblePatch
	}{
		"no dir":       {"", "x", []PebblePatch{testPatch}},
		"no name":      {dir, "", []PebblePatch{testPatch}},
		"path name":    {dir, "../x", []PebblePatch{testPatch}},
		"upper name":   {dir, "X", []PebblePatch{testPatch}},
		"no patches":   {dir, "x", nil},
		"outside file": {dir, "x", []PebblePatch{{File: "../go.mod", Old: "a", New: "b"}}},
	} {
		_, err := BuildPatchedPebble(ctx, c.dir, c.name, c.patches...)
		if err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("%s: BuildPatchedPebble = %v, want an argument error", name, err)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("the directory holds %v (%v), want nothing", entries, err)
	}
}

// A patch whose text is not in Pebble's file fails the build with
// ErrPatchMismatch, and leaves no binary, stock or otherwise.
func TestBuildPatchedPebbleMismatch(t *testing.T) {
	if testing.Short() {
		t.Skip("integration tier (runs the go command): skipped under -short")
	}
	dir := t.TempDir()
	missing := PebblePatch{File: testPatch.File, Old: testPatch.Old + "\n// not in pebble", New: testPatch.New}
	if bin, err := BuildPatchedPebble(t.Context(), dir, "x", testPatch, missing); !errors.Is(err, ErrPatchMismatch) {
		t.Fatalf("BuildPatchedPebble = %q, %v, want ErrPatchMismatch", bin, err)
	}
	assertOnlyInCache(t, filepath.Join(dir, PebbleVersion+"-x"), "build.lock")
}

// The patched Pebble is built once into its directory, carries the patch,
// is told from the stock one by its build information, and is reused.
func TestBuildPatchedPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("integration tier (builds Pebble with the go command): skipped under -short")
	}
	dir := t.TempDir()
	bin, err := BuildPatchedPebble(t.Context(), dir, "x", testPatch)
	if err != nil {
		t.Fatal(err)
	}
	vdir := filepath.Join(dir, PebbleVersion+"-x")
	if want := filepath.Join(vdir, exeName("pebble")); bin != want {
		t.Errorf("BuildPatchedPebble = %q, want %q", bin, want)
	}
	if pebbleBinaryOK(bin) {
		t.Errorf("the patched %s passes for the stock pebble", bin)
	}
	if !patchedPebbleOK(bin, patchedReplacement("x", []PebblePatch{testPatch})) {
		t.Errorf("%s is not the patched pebble", bin)
	}
	out, _ := exec.CommandContext(t.Context(), bin, "-h").CombinedOutput()
	if !strings.Contains(string(out), "(patched by acmetest)") {
		t.Errorf("pebble -h does not show the patch:\n%s", out)
	}
	assertOnlyInCache(t, vdir, "build.lock", exeName("pebble"))

	before, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := BuildPatchedPebble(t.Context(), dir, "x", testPatch); err != nil || p != bin {
		t.Fatalf("second BuildPatchedPebble = %q, %v", p, err)
	}
	after, err := os.Stat(bin)
	if err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the cached binary was replaced: %v", err)
	}
}

// assertOnlyInCache fails t unless dir holds exactly the entries names.
func assertOnlyInCache(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}
