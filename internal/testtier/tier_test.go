// Package testtier holds the guard of the test tiers (README, "Test
// tiers"): under go test -short no test starts an external process.
//
// The guard reads the source, it runs nothing: every Test and Fuzz
// function of the repository (nested modules included) that starts a
// process, itself or through a helper of the repository, must be skipped
// under -short first, by its own `if testing.Short() { t.Skip(...) }` or
// by a helper that does that (acmetest.NewTestPebble, bindtest.Start,
// etcdtest.New). A runnable example (one with an Output comment) cannot
// skip, so it must start nothing.
package testtier

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// modulePath is the import path of the repository's root module; nested
// modules live below it under the same prefix.
const modulePath = "github.com/certkeeper/certkeeper"

// unitTier lists the tests that start a process the guard cannot tell is
// harmless, with the reason they stay in the -short tier.
var unitTier = map[string]string{
	"acmetest.TestStartPebbleBadBinary":        "the pebble binary it names does not exist: nothing starts",
	"internal/runcmd.TestRunWaitsForTheWriter": "runs a two-line /bin/sh script: what runcmd is for",
	"internal/runcmd.TestRunGivesUp":           "runs a two-line /bin/sh script: what runcmd is for",
}

// cheapCommands are system commands a unit test may run: they start and
// end at once and need nothing installed beyond the base system.
var cheapCommands = []string{"true", "false", "cp", "chattr", "sh", "/bin/sh"}

func TestShortTierStartsNoProcess(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s: %v", root, err)
	}
	problems, tests, err := check(root, modulePath, unitTier)
	if err != nil {
		t.Fatal(err)
	}
	if tests < 100 {
		t.Fatalf("only %d tests found under %s: the guard is not reading the repository", tests, root)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestGuardCatches runs the guard on a small module of its own: a test
// that re-runs its binary, one that runs a helper that starts a server,
// and a runnable example that starts one are caught; the same tests
// skipped under -short, or through a helper that skips, are not.
func TestGuardCatches(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.test/m\n",
		"srvtest/srvtest.go": `package srvtest
import ("os/exec"; "testing")
func Start(t testing.TB) { if testing.Short() { t.Skip("integration tier") }; start(t) }
func start(t testing.TB) { _ = exec.Command("named").Start() }
func Unguarded(t testing.TB) { start(t) }
`,
		"p/p_test.go": `package p
import ("os"; "os/exec"; "testing"; "example.test/m/srvtest")
func run(t *testing.T) { _ = exec.Command(os.Args[0]).Run() }
func TestBad(t *testing.T) { run(t) }
func TestBadHelper(t *testing.T) { srvtest.Unguarded(t) }
func TestGood(t *testing.T) { if testing.Short() { t.Skip("integration tier") }; run(t) }
func TestGoodHelper(t *testing.T) { srvtest.Start(t); run(t) }
func TestCheap(t *testing.T) { _ = exec.Command("true").Run() }
func TestAllowed(t *testing.T) { run(t) }
func TestShortNoSkip(t *testing.T) { if testing.Short() { t.Log("short") }; run(t) }
func ExampleBad() {
	srvtest.Unguarded(nil)
	// Output:
}
func ExampleNotRun() { run(nil) }
`,
	}
	for name, src := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	problems, tests, err := check(root, "example.test/m", map[string]string{"p.TestAllowed": "test"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, strings.Fields(p)[0])
	}
	slices.Sort(got)
	want := []string{"p.ExampleBad", "p.TestBad", "p.TestBadHelper", "p.TestShortNoSkip"}
	if !slices.Equal(got, want) || tests != 8 {
		t.Errorf("guard found %q in %d tests, want %q in 8\n%s", got, tests, want, strings.Join(problems, "\n"))
	}
}

// fn is what the guard knows of one function (all methods of a package
// with the same name are merged, as ".name": the guard knows no types).
type fn struct {
	pkg, name string
	// skips: the function skips its test under -short
	// (if testing.Short() { ... Skip ... }).
	skips bool
	// direct names the processes the function starts itself.
	direct []string
	// calls are the functions of the repository it calls.
	calls []key
}

type key struct{ dir, name string }

type guard struct {
	fns map[key]*fn
	// memo of guarded and starts, computed on demand.
	guarded, starts map[key]*string
}

// check reads every test file (and every file importing "testing") below
// root and returns a line for each Test, Fuzz or runnable Example function
// that may start a process under -short, and the number of tests seen.
func check(root, module string, allowed map[string]string) (problems []string, tests int, err error) {
	g := &guard{fns: map[key]*fn{}, guarded: map[key]*string{}, starts: map[key]*string{}}
	type entry struct {
		k    key
		kind string
	}
	var entries []entry
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		isTest := strings.HasSuffix(p, "_test.go")
		imports := map[string]string{} // local name → import path
		for _, im := range f.Imports {
			ip, _ := strconv.Unquote(im.Path.Value)
			name := path.Base(ip)
			if strings.HasPrefix(name, "v") && strings.Trim(name[1:], "0123456789") == "" {
				name = path.Base(path.Dir(ip))
			}
			if im.Name != nil {
				name = im.Name.Name
			}
			imports[name] = ip
		}
		if _, ok := imports["testing"]; !isTest && !ok {
			return nil // library code: its processes are its own business
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		dir := filepath.ToSlash(rel)
		dirOf := func(ip string) (string, bool) {
			if ip == module {
				return ".", true
			}
			r, ok := strings.CutPrefix(ip, module+"/")
			return r, ok
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			k := key{dir, fd.Name.Name}
			if fd.Recv != nil {
				k.name = "." + k.name
			}
			info := g.fns[k]
			if info == nil {
				info = &fn{pkg: dir, name: fd.Name.Name}
				g.fns[k] = info
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.IfStmt:
					if mentions(n.Cond, "testing", "Short") && calls(n.Body, "Skip", "Skipf", "SkipNow") {
						info.skips = true
					}
				case *ast.CallExpr:
					switch f := n.Fun.(type) {
					case *ast.Ident:
						if what := starter(module+"/"+dir, f.Name, n.Args); what != "" {
							info.direct = append(info.direct, what) // acmetest's own helpers
						} else {
							info.calls = append(info.calls, key{dir, f.Name})
						}
					case *ast.SelectorExpr:
						var ip string
						x, isPkg := f.X.(*ast.Ident)
						if isPkg {
							ip, isPkg = imports[x.Name]
						}
						if !isPkg {
							info.calls = append(info.calls, key{dir, "." + f.Sel.Name}) // a method: by name
							break
						}
						if what := starter(ip, f.Sel.Name, n.Args); what != "" {
							info.direct = append(info.direct, what)
						} else if d, ok := dirOf(ip); ok {
							info.calls = append(info.calls, key{d, f.Sel.Name})
						}
					}
				}
				return true
			})
			if !isTest || fd.Recv != nil {
				continue
			}
			switch n := fd.Name.Name; {
			case strings.HasPrefix(n, "Test") && n != "TestMain", strings.HasPrefix(n, "Fuzz"):
				entries = append(entries, entry{k, "test"})
			case strings.HasPrefix(n, "Example") && hasOutput(f, fd):
				entries = append(entries, entry{k, "example"})
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	for _, e := range entries {
		tests++
		id := e.k.dir + "." + e.k.name
		if _, ok := allowed[id]; ok {
			continue
		}
		what := g.start(e.k)
		if what == nil {
			continue
		}
		switch {
		case e.kind == "example":
			problems = append(problems, fmt.Sprintf("%s is a runnable example that starts %s: an example cannot skip under -short; start nothing or drop its Output comment", id, *what))
		case g.guard(e.k) == nil:
			problems = append(problems, fmt.Sprintf("%s starts %s but does not skip under -short: add `if testing.Short() { t.Skip(\"integration tier (...): skipped under -short\") }` (or start it through a helper that does)", id, *what))
		}
	}
	return problems, tests, nil
}

// start says what process k may start, through the functions it calls
// that do not skip under -short; nil if none.
func (g *guard) start(k key) *string {
	if v, ok := g.starts[k]; ok {
		return v
	}
	g.starts[k] = nil // a cycle adds nothing
	f := g.fns[k]
	if f == nil {
		return nil
	}
	var res *string
	if len(f.direct) > 0 {
		s := f.direct[0] + " (in " + f.name + ")"
		res = &s
	}
	for _, c := range f.calls {
		if res != nil {
			break
		}
		if c != k && g.guard(c) == nil {
			res = g.start(c)
		}
	}
	g.starts[k] = res
	return res
}

// guard says why a test that calls k is skipped under -short: k skips, or
// calls a function that does; nil if it is not.
func (g *guard) guard(k key) *string {
	if v, ok := g.guarded[k]; ok {
		return v
	}
	g.guarded[k] = nil
	f := g.fns[k]
	if f == nil {
		return nil
	}
	var res *string
	if f.skips {
		s := f.name
		res = &s
	}
	for _, c := range f.calls {
		if res != nil {
			break
		}
		if c != k {
			res = g.guard(c)
		}
	}
	g.guarded[k] = res
	return res
}

// starter names the process a call of importPath.name(args) starts, or ""
// if it starts none the guard knows of.
func starter(importPath, name string, args []ast.Expr) string {
	switch importPath + "." + name {
	case "os/exec.Command", "os/exec.CommandContext":
		i := 0
		if name == "CommandContext" {
			i = 1
		}
		if i < len(args) {
			if lit, ok := args[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				cmd, _ := strconv.Unquote(lit.Value)
				if slices.Contains(cheapCommands, cmd) {
					return ""
				}
				return "the command " + cmd
			}
		}
		return "a command"
	case "os.StartProcess", "syscall.Exec", "syscall.ForkExec":
		return "a process"
	case "os.Executable":
		return "its own test binary"
	case modulePath + "/acmetest.StartPebble", modulePath + "/acmetest.FindPebble":
		return "Pebble (acmetest." + name + ")"
	}
	return ""
}

// mentions reports whether n contains the call pkg.name().
func mentions(n ast.Node, pkg, name string) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if s, ok := c.Fun.(*ast.SelectorExpr); ok && s.Sel.Name == name {
				if x, ok := s.X.(*ast.Ident); ok && x.Name == pkg {
					found = true
				}
			}
		}
		return !found
	})
	return found
}

// calls reports whether n calls a method with one of the names.
func calls(n ast.Node, names ...string) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if s, ok := c.Fun.(*ast.SelectorExpr); ok && slices.Contains(names, s.Sel.Name) {
				found = true
			}
		}
		return !found
	})
	return found
}

// hasOutput reports whether the example fd has an Output comment, so that
// go test runs it.
func hasOutput(f *ast.File, fd *ast.FuncDecl) bool {
	for _, cg := range f.Comments {
		if cg.Pos() < fd.Body.Lbrace || cg.End() > fd.Body.Rbrace {
			continue
		}
		t := strings.ToLower(strings.TrimSpace(cg.Text()))
		if strings.HasPrefix(t, "output:") || strings.HasPrefix(t, "unordered output:") {
			return true
		}
	}
	return false
}
