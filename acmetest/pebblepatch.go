package acmetest

import (
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrPatchMismatch is returned (wrapped) by PebblePatch.Apply and
// BuildPatchedPebble when the text a patch replaces is not in its file
// exactly once: a Pebble whose code moved is never built unpatched, or
// patched twice, without anyone noticing.
var ErrPatchMismatch = errors.New("acmetest: pebble patch text not found exactly once")

// PebblePatch is one exact text substitution in the source of Pebble
// (PebbleModule at PebbleVersion), for BuildPatchedPebble.
type PebblePatch struct {
	// File is the file patched, a slash-separated path relative to the
	// root of Pebble's module, such as "db/memorystore.go".
	File string
	// Old is the text replaced. It must stand in File exactly once.
	Old string
	// New is the text put in its place.
	New string
}

// Apply returns src, the text of p.File, with p.Old replaced by p.New.
// The error wraps ErrPatchMismatch, and says how many copies there were,
// when p.Old is empty or does not stand in src exactly once.
func (p PebblePatch) Apply(src string) (string, error) {
	if n := strings.Count(src, p.Old); p.Old == "" || n != 1 {
		return "", fmt.Errorf("%w: %s of %s@%s has %d copies of the text to patch, want 1",
			ErrPatchMismatch, p.File, PebbleModule, PebbleVersion, n)
	}
	return strings.Replace(src, p.Old, p.New, 1), nil
}

// BuildPatchedPebble returns the path of a pebble binary of PebbleVersion
// with patches applied to its source, under dir/PebbleVersion-name (for
// dir, PebbleCacheDir keeps it next to FindPebble's stock binary), building
// it first when there is none. name, made of lower-case ASCII letters,
// digits and '-', tells one patched Pebble from another.
//
// The build is a module of its own, outside any workspace (GOWORK=off),
// that requires PebbleModule at PebbleVersion and replaces it by a copy of
// that module from the module cache (go mod download: the go command
// refuses an -overlay of module-cache files) with patches applied in
// order, then go build -mod=mod, which fills the module's go.sum from the
// module cache or the proxy, checked against the checksum database as
// usual. As with BuildPebble, the build runs once per dir: concurrent
// callers, in this process or in others, wait on a lock file and use the
// binary the first one built, and the binary is put in place whole (built
// aside, then renamed). Its build information records the replacement,
// whose name carries a digest of patches, which tells it from the stock
// Pebble and from a Pebble patched otherwise (that one is rebuilt). The
// build is bounded by ctx only.
//
// Errors: ErrPatchMismatch (wrapped) when a patch's text does not stand in
// its file exactly once, ErrNoGo (wrapped) when there is no go command, and
// otherwise the go command's output; there is no fallback to the stock
// Pebble.
func BuildPatchedPebble(ctx context.Context, dir, name string, patches ...PebblePatch) (string, error) {
	switch {
	case dir == "":
		return "", errors.New("acmetest: BuildPatchedPebble: empty directory")
	case !validPatchName(name):
		return "", fmt.Errorf("acmetest: BuildPatchedPebble: name %q is not lower-case letters, digits and '-'", name)
	case len(patches) == 0:
		return "", errors.New("acmetest: BuildPatchedPebble: no patches")
	}
	for _, p := range patches {
		if !filepath.IsLocal(filepath.FromSlash(p.File)) {
			return "", fmt.Errorf("acmetest: BuildPatchedPebble: patch file %q is not a path inside Pebble's module", p.File)
		}
	}
	replace := patchedReplacement(name, patches)
	ok := func(path string) bool { return patchedPebbleOK(path, replace) }
	return buildCached(ctx, filepath.Join(dir, PebbleVersion+"-"+name), ok,
		"the patched pebble "+PebbleVersion, func(goCmd, tmp string) (string, error) {
			return buildPatched(ctx, goCmd, tmp, replace, patches)
		})
}

// buildPatched builds the patched Pebble in the empty directory tmp, with
// the patched copy of Pebble's module at replace (relative to tmp), and
// returns the binary's path.
func buildPatched(ctx context.Context, goCmd, tmp, replace string, patches []PebblePatch) (string, error) {
	gomod := filepath.Join(tmp, "go.mod")
	if err := os.WriteFile(gomod, []byte("module patchedpebble\n\ngo 1.24\n"), 0o644); err != nil {
		return "", fmt.Errorf("acmetest: patched pebble: %w", err)
	}
	out, err := runGo(ctx, goCmd, tmp, nil, "mod", "download", "-json", PebbleModule+"@"+PebbleVersion)
	if err != nil {
		return "", err
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("acmetest: patched pebble: go mod download: no module directory (%v %s)", err, mod.Error)
	}
	src := filepath.Join(tmp, filepath.FromSlash(replace))
	if err := os.CopyFS(src, os.DirFS(mod.Dir)); err != nil {
		return "", fmt.Errorf("acmetest: patched pebble: copying %s: %w", mod.Dir, err)
	}
	for _, p := range patches {
		file := filepath.Join(src, filepath.FromSlash(p.File))
		text, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("acmetest: patched pebble: %w", err)
		}
		patched, err := p.Apply(string(text))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(file, []byte(patched), 0o644); err != nil {
			return "", fmt.Errorf("acmetest: patched pebble: %w", err)
		}
	}
	modText := fmt.Sprintf("module patchedpebble\n\ngo 1.24\n\nrequire %s %s\n\nreplace %[1]s => %[3]s\n",
		PebbleModule, PebbleVersion, replace)
	if err := os.WriteFile(gomod, []byte(modText), 0o644); err != nil {
		return "", fmt.Errorf("acmetest: patched pebble: %w", err)
	}
	bin := filepath.Join(tmp, exeName("pebble-built"))
	if _, err := runGo(ctx, goCmd, tmp, nil, "build", "-mod=mod", "-o", bin, pebblePackage); err != nil {
		return "", err
	}
	return bin, nil
}

// patchedReplacement returns the directory, relative to the build module,
// of the patched copy of Pebble's module: ./pebble-name-digest, digest
// being the first 12 hex digits of a SHA-256 over the patches. The
// binary's build information records it.
func patchedReplacement(name string, patches []PebblePatch) string {
	h := sha256.New()
	for _, p := range patches {
		// Lengths first, so that no two lists of patches hash alike.
		fmt.Fprintf(h, "%d %d %d\n%s%s%s", len(p.File), len(p.Old), len(p.New), p.File, p.Old, p.New)
	}
	return "./pebble-" + name + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// patchedPebbleOK reports whether path is a pebble built by buildPatched
// from PebbleModule at PebbleVersion replaced by replace.
func patchedPebbleOK(path, replace string) bool {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return false
	}
	m := info.Main
	return info.Path == pebblePackage &&
		m.Path == PebbleModule && m.Version == PebbleVersion &&
		m.Replace != nil && m.Replace.Path == replace
}

// validPatchName reports whether name is a non-empty run of lower-case
// ASCII letters, digits and '-', safe as part of a path and a module
// directory.
func validPatchName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}
