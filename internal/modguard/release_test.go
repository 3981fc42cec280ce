package modguard

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const corePath = "github.com/certkeeper/certkeeper"

// repoRoot is the directory of the core module's go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	return root
}

type release struct {
	order   int
	version string // the version part of the tag
}

var (
	rowRE  = regexp.MustCompile("^\\| *(\\d+) *\\| *`([^`]+)` *\\| *`([^`]+)` *\\|$")
	itemRE = regexp.MustCompile("^- `([^`]+)`$")
)

// section returns the lines of docs/releasing.md between <!-- name --> and
// <!-- /name -->.
func section(t *testing.T, doc, name string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "<!-- "+name+" -->\n")
	body, _, ok2 := strings.Cut(rest, "<!-- /"+name+" -->")
	if !ok || !ok2 {
		t.Fatalf("docs/releasing.md has no <!-- %s --> section", name)
	}
	return strings.Split(strings.TrimSpace(body), "\n")
}

// releaseOrder parses the release table and the unpublished list.
func releaseOrder(t *testing.T, root string) (map[string]release, map[string]bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "docs", "releasing.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	published := map[string]release{}
	for _, line := range section(t, doc, "release-order") {
		m := rowRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue // header and separator
		}
		mod, tag := m[2], m[3]
		prefix := strings.TrimPrefix(strings.TrimPrefix(mod, corePath), "/")
		if prefix != "" {
			prefix += "/"
		}
		version, ok := strings.CutPrefix(tag, prefix)
		if !ok || !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(version) {
			t.Errorf("release order: module %s has tag %q, want %svX.Y.Z", mod, tag, prefix)
		}
		var order int
		for _, c := range m[1] {
			order = order*10 + int(c-'0')
		}
		if _, dup := published[mod]; dup {
			t.Errorf("release order: %s listed twice", mod)
		}
		published[mod] = release{order: order, version: version}
	}
	if len(published) == 0 {
		t.Fatal("release order: no rows")
	}
	unpublished := map[string]bool{}
	for _, line := range section(t, doc, "unpublished") {
		if m := itemRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			unpublished[m[1]] = true
		}
	}
	return published, unpublished
}

type goMod struct {
	Module  struct{ Path string }
	Require []struct {
		Path    string
		Version string
	}
	Replace []struct {
		Old struct{ Path, Version string }
		New struct{ Path, Version string }
	}
}

type goWork struct {
	Use     []struct{ DiskPath string }
	Replace []struct {
		Old struct{ Path, Version string }
		New struct{ Path, Version string }
	}
}

// editJSON runs `go <kind> edit -json file` and decodes its output.
func editJSON(t *testing.T, kind, file string, v any) {
	t.Helper()
	out, err := exec.Command("go", kind, "edit", "-json", file).Output()
	if err != nil {
		t.Fatalf("go %s edit -json %s: %v", kind, file, err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// TestReleaseOrder checks that every module a user installs or imports
// resolves from its tags alone (docs/releasing.md).
func TestReleaseOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("integration tier (runs the go command on every go.mod): skipped under -short")
	}
	root := repoRoot(t)
	published, unpublished := releaseOrder(t, root)

	// Every go.mod of the tree, by module path and directory.
	dirs := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.Name() != "go.mod" {
			return nil
		}
		var m goMod
		editJSON(t, "mod", path, &m)
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		dirs[m.Module.Path] = filepath.ToSlash(rel)

		_, isPub := published[m.Module.Path]
		switch {
		case isPub && unpublished[m.Module.Path]:
			t.Errorf("%s: both in the release order and unpublished", m.Module.Path)
		case !isPub && !unpublished[m.Module.Path]:
			t.Errorf("%s (%s): in neither the release order nor the unpublished list of docs/releasing.md", m.Module.Path, rel)
		}
		want := corePath
		if rel != "." {
			want += "/" + filepath.ToSlash(rel)
		}
		if m.Module.Path != want {
			t.Errorf("%s: module path %s, want %s (a tag names the directory)", path, m.Module.Path, want)
		}
		if isPub {
			for _, r := range m.Replace {
				t.Errorf("%s: published module has replace %s => %s", m.Module.Path, r.Old.Path, r.New.Path)
			}
		}
		for _, r := range m.Require {
			if r.Path != corePath && !strings.HasPrefix(r.Path, corePath+"/") {
				continue
			}
			dep, ok := published[r.Path]
			switch {
			case !ok:
				t.Errorf("%s requires %s, which is not in the release order", m.Module.Path, r.Path)
			case r.Version != dep.version:
				t.Errorf("%s requires %s %s; the release order has %s", m.Module.Path, r.Path, r.Version, dep.version)
			case isPub && dep.order >= published[m.Module.Path].order:
				t.Errorf("%s (order %d) requires %s, which is tagged after it (order %d)",
					m.Module.Path, published[m.Module.Path].order, r.Path, dep.order)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for mod := range published {
		if _, ok := dirs[mod]; !ok {
			t.Errorf("release order lists %s, which has no go.mod in the tree", mod)
		}
	}

	// go.work uses every module, and maps each published one's release
	// version (and only that) to its directory.
	var w goWork
	editJSON(t, "work", filepath.Join(root, "go.work"), &w)
	used := map[string]bool{}
	for _, u := range w.Use {
		used[strings.TrimPrefix(filepath.ToSlash(filepath.Clean(u.DiskPath)), "./")] = true
	}
	for mod, dir := range dirs {
		if !used[dir] {
			t.Errorf("go.work does not use %s (%s)", dir, mod)
		}
	}
	replaced := map[string]bool{}
	for _, r := range w.Replace {
		dep, ok := published[r.Old.Path]
		dir := strings.TrimPrefix(filepath.ToSlash(filepath.Clean(r.New.Path)), "./")
		if !ok || r.Old.Version != dep.version || dir != dirs[r.Old.Path] {
			t.Errorf("go.work: replace %s %s => %s; want only a published module's release version mapped to its directory",
				r.Old.Path, r.Old.Version, r.New.Path)
		}
		replaced[r.Old.Path] = true
	}
	for mod := range published {
		if !replaced[mod] {
			t.Errorf("go.work: no replace for %s %s (the go command reads that version's go.mod)", mod, published[mod].version)
		}
	}
}
