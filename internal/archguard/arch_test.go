package archguard

import (
	"bytes"
	"fmt"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// modulePath is the import path of the repository's root module; the
// nested modules live below it under the same prefix.
const modulePath = "github.com/certkeeper/certkeeper"

// MaxLines is the longest a non-test Go file may be (STYLE.md: a file is
// one topic and stays readable).
const MaxLines = 500

// longFiles are the non-test files allowed beyond MaxLines, each with its
// ceiling (it may not grow past it) and the reason a split would hurt.
var longFiles = map[string]struct {
	max int
	why string
}{}

func TestLayers(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	layers, err := parseLayers(string(doc))
	if err != nil {
		t.Fatalf("docs/architecture.md: %v", err)
	}
	pkgs, err := readPackages(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 40 {
		t.Fatalf("only %d packages found under %s: the guard is not reading the repository", len(pkgs), root)
	}
	for _, p := range check(layers, pkgs, modulePath) {
		t.Error(p)
	}
	for _, f := range lengths(pkgs) {
		ex, ok := longFiles[f.name]
		switch {
		case ok && f.lines > ex.max:
			t.Errorf("%s has %d lines, more than its ceiling of %d (%s): split it", f.name, f.lines, ex.max, ex.why)
		case !ok && f.lines > MaxLines:
			t.Errorf("%s has %d lines, more than %d: split it along a seam (one topic per file)", f.name, f.lines, MaxLines)
		}
		delete(longFiles, f.name)
	}
	for name := range longFiles {
		t.Errorf("longFiles names %s, which is no longer a non-test file of the repository", name)
	}
}

// TestGuardCatches runs the guard on a small module of its own: an import
// back up a layer, a cycle between two parts of one layer, a package the
// list does not place and a long file are each caught, and a clean tree
// passes.
func TestGuardCatches(t *testing.T) {
	doc := "text\n<!-- layers -->\n" +
		"- top: `cmd/...`\n" +
		"- middle: `a` `b/...`\n" +
		"- bottom: `low` `internal/...`\n" +
		"<!-- /layers -->\n"
	layers, err := parseLayers(doc)
	if err != nil {
		t.Fatal(err)
	}
	tree := func(files map[string]string) map[string]*pkg {
		t.Helper()
		root := t.TempDir()
		for name, src := range files {
			p := filepath.Join(root, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		pkgs, err := readPackages(root)
		if err != nil {
			t.Fatal(err)
		}
		return pkgs
	}
	clean := map[string]string{
		"go.mod":              "module example.test/m\n",
		"cmd/tool/main.go":    "package main\nimport (_ \"example.test/m/a\"; _ \"example.test/m/low\")\n",
		"a/a.go":              "package a\nimport _ \"example.test/m/b/c\"\n",
		"b/b.go":              "package b\nimport _ \"example.test/m/internal/x\"\n",
		"b/c/c.go":            "package c\nimport _ \"example.test/m/low\"\n",
		"low/low.go":          "package low\n",
		"low/low_test.go":     "package low\nimport _ \"example.test/m/cmd/tool\"\n", // tests may import anything
		"low/skip.go":         "//go:build ignore\n\npackage main\nimport _ \"example.test/m/a\"\n",
		"internal/x/x.go":     "package x\n",
		"nested/go.mod":       "module example.test/m/cmd/nested\n",
		"nested/n.go":         "package nested\nimport _ \"example.test/m/a\"\n",
		"a/testdata/bad/b.go": "package bad\nimport _ \"example.test/m/cmd/tool\"\n",
	}
	if p := check(layers, tree(clean), "example.test/m"); len(p) != 0 {
		t.Fatalf("clean tree: %q", p)
	}
	bad := maps(clean, map[string]string{
		"low/low.go":         "package low\nimport _ \"example.test/m/a\"\n",                    // up two layers
		"b/c/c.go":           "package c\nimport _ \"example.test/m/a\"\n",                      // a → b/c → a: a cycle of parts
		"other/o.go":         "package other\n",                                                 // not placed
		"a/long.go":          "package a\n" + strings.Repeat("// line\n", MaxLines),             // too long
		"nested/n.go":        "package nested\nimport _ \"example.test/m/cmd/nested/deeper\"\n", // nested module's path
		"nested/deeper/d.go": "package deeper\n",
	})
	pkgs := tree(bad)
	got := check(layers, pkgs, "example.test/m")
	want := []*regexp.Regexp{
		regexp.MustCompile("^layer middle: its parts import each other in a cycle: a → b/\\.\\.\\. → a$"),
		regexp.MustCompile("^low imports a, in layer middle above its own layer bottom$"),
		regexp.MustCompile("^other is not in the layer list"),
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, re := range want {
		if !re.MatchString(got[i]) {
			t.Errorf("problem %d = %q, want a match of %q", i, got[i], re)
		}
	}
	var long []string
	for _, f := range lengths(pkgs) {
		if f.lines > MaxLines {
			long = append(long, f.name)
		}
	}
	if !slices.Equal(long, []string{"a/long.go"}) {
		t.Errorf("long files = %q, want [a/long.go]", long)
	}
}

func maps(base, over map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

// layer is one line of the list: a name and its parts, each a pattern
// ("x" is the package x, "x/..." x and every package below it).
type layer struct {
	name  string
	parts []string
}

var (
	layerRE = regexp.MustCompile("^- ([^:]+): (.+)$")
	partRE  = regexp.MustCompile("`([^`]+)`")
)

// parseLayers reads the list between <!-- layers --> and <!-- /layers -->,
// top layer first.
func parseLayers(doc string) ([]layer, error) {
	_, rest, ok := strings.Cut(doc, "<!-- layers -->\n")
	body, _, ok2 := strings.Cut(rest, "<!-- /layers -->")
	if !ok || !ok2 {
		return nil, fmt.Errorf("no <!-- layers --> ... <!-- /layers --> list")
	}
	var layers []layer
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		m := layerRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			return nil, fmt.Errorf("layer list: %q is not \"- name: `pattern` ...\"", line)
		}
		l := layer{name: m[1]}
		for _, p := range partRE.FindAllStringSubmatch(m[2], -1) {
			if seen[p[1]] {
				return nil, fmt.Errorf("layer list: %s is listed twice", p[1])
			}
			seen[p[1]] = true
			l.parts = append(l.parts, p[1])
		}
		if len(l.parts) == 0 {
			return nil, fmt.Errorf("layer list: layer %s names no package", l.name)
		}
		layers = append(layers, l)
	}
	return layers, nil
}

// pkg is one package directory with non-test Go files.
type pkg struct {
	path    string         // import path
	imports []string       // the repository's packages its non-test files import
	files   map[string]int // non-test file (slash path from the root) → lines
}

// readPackages parses the imports of every non-test Go file below root,
// in every module (a directory with a go.mod starts a module whose path
// it names). Directories named testdata, or starting with "." or "_",
// are not read, nor files excluded by a //go:build ignore line.
func readPackages(root string) (map[string]*pkg, error) {
	pkgs := map[string]*pkg{}
	mods := map[string]string{} // directory → module path
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			data, err := os.ReadFile(filepath.Join(p, "go.mod"))
			if err == nil {
				m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(data)
				if m == nil {
					return fmt.Errorf("%s/go.mod names no module", p)
				}
				mods[p] = string(m[1])
			} else if !os.IsNotExist(err) {
				return err
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, p, src, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				if constraint.IsGoBuild(c.Text) {
					if expr, err := constraint.Parse(c.Text); err == nil && !expr.Eval(func(tag string) bool { return tag != "ignore" }) {
						return nil
					}
				}
			}
		}
		dir := filepath.Dir(p)
		ip, err := importPath(root, dir, mods)
		if err != nil {
			return err
		}
		k := pkgs[ip]
		if k == nil {
			k = &pkg{path: ip, files: map[string]int{}}
			pkgs[ip] = k
		}
		rel, _ := filepath.Rel(root, p)
		k.files[filepath.ToSlash(rel)] = bytes.Count(src, []byte("\n"))
		for _, im := range f.Imports {
			s, err := strconv.Unquote(im.Path.Value)
			if err != nil {
				return err
			}
			if !slices.Contains(k.imports, s) {
				k.imports = append(k.imports, s)
			}
		}
		return nil
	})
	return pkgs, err
}

// importPath is the import path of dir: its module's path and the rest.
func importPath(root, dir string, mods map[string]string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if mod, ok := mods[d]; ok {
			rel, _ := filepath.Rel(d, dir)
			if rel == "." {
				return mod, nil
			}
			return mod + "/" + filepath.ToSlash(rel), nil
		}
		if d == root || d == filepath.Dir(d) {
			return "", fmt.Errorf("%s is in no module", dir)
		}
	}
}

// placed is where a package sits: its layer and the part (the longest
// pattern of the list that matches it).
type placed struct {
	layer int
	part  string
}

func place(layers []layer, rel string) (placed, bool) {
	best, found := placed{}, false
	for i, l := range layers {
		for _, part := range l.parts {
			base, tree := strings.CutSuffix(part, "/...")
			if rel == base || tree && strings.HasPrefix(rel, base+"/") {
				if !found || len(part) > len(best.part) || len(part) == len(best.part) && !tree {
					best, found = placed{i, part}, true
				}
			}
		}
	}
	return best, found
}

// check returns the problems of pkgs against layers, sorted: imports back
// up a layer, cycles between the parts of one layer, packages the list
// does not place and parts that place nothing.
func check(layers []layer, pkgs map[string]*pkg, prefix string) []string {
	var problems []string
	rel := func(ip string) (string, bool) {
		if ip == prefix {
			return ".", true
		}
		return strings.CutPrefix(ip, prefix+"/")
	}
	where := map[string]placed{}
	used := map[string]bool{}
	for ip := range pkgs {
		r, _ := rel(ip)
		p, ok := place(layers, r)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is not in the layer list of docs/architecture.md: place it", r))
			continue
		}
		where[ip], used[p.part] = p, true
	}
	// edges between parts, for the cycle check within a layer
	edges := map[string][]string{}
	for ip, k := range pkgs {
		from, ok := where[ip]
		if !ok {
			continue
		}
		r, _ := rel(ip)
		for _, im := range k.imports {
			to, ok := where[im]
			if !ok {
				continue // outside the repository, or reported as not placed
			}
			ir, _ := rel(im)
			switch {
			case to.layer < from.layer:
				problems = append(problems, fmt.Sprintf("%s imports %s, in layer %s above its own layer %s",
					r, ir, layers[to.layer].name, layers[from.layer].name))
			case to.layer == from.layer && to.part != from.part && !slices.Contains(edges[from.part], to.part):
				edges[from.part] = append(edges[from.part], to.part)
			}
		}
	}
	for i, l := range layers {
		if c := cycle(l.parts, edges); c != nil {
			problems = append(problems, fmt.Sprintf("layer %s: its parts import each other in a cycle: %s",
				layers[i].name, strings.Join(c, " → ")))
		}
		for _, part := range l.parts {
			if !used[part] {
				problems = append(problems, fmt.Sprintf("layer %s: %s places no package: remove it", l.name, part))
			}
		}
	}
	slices.Sort(problems)
	return problems
}

// cycle returns one cycle of edges among parts (its first part repeated at
// the end), or nil.
func cycle(parts []string, edges map[string][]string) []string {
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(string) []string
	visit = func(p string) []string {
		state[p] = open
		stack = append(stack, p)
		next := slices.Clone(edges[p])
		slices.Sort(next)
		for _, q := range next {
			switch state[q] {
			case open:
				i := slices.Index(stack, q)
				return append(slices.Clone(stack[i:]), q)
			case unseen:
				if c := visit(q); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[p] = done
		return nil
	}
	sorted := slices.Clone(parts)
	slices.Sort(sorted)
	for _, p := range sorted {
		if state[p] == unseen {
			if c := visit(p); c != nil {
				return c
			}
		}
	}
	return nil
}

type fileLen struct {
	name  string
	lines int
}

// lengths lists the non-test files of pkgs with their lines, by name.
func lengths(pkgs map[string]*pkg) []fileLen {
	var out []fileLen
	for _, k := range pkgs {
		for name, n := range k.files {
			out = append(out, fileLen{name, n})
		}
	}
	slices.SortFunc(out, func(a, b fileLen) int { return strings.Compare(a.name, b.name) })
	return out
}
