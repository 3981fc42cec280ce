package cli

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v3"
)

var updateDoc = flag.Bool("update-doc", false, "rewrite the generated part of docs/cli.md from the command tree")

const (
	docPath  = "../../../../docs/cli.md"
	docBegin = "<!-- BEGIN GENERATED FLAGS: go test ./internal/cli -run TestCLIDoc -update-doc -->"
	docEnd   = "<!-- END GENERATED FLAGS -->"
)

// docFlags writes the flag reference of every command, from the command
// tree: what docs/cli.md holds between docBegin and docEnd.
func docFlags() string {
	var b strings.Builder
	env := Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
	for _, c := range commands() {
		cmd := c.build(env)
		fmt.Fprintf(&b, "\n### certkeeper %s\n\n`certkeeper %s [flags]", c.name, c.name)
		if c.args != "" {
			fmt.Fprintf(&b, " %s", c.args)
		}
		fmt.Fprintf(&b, "`: %s.\n\n| flag | environment | default | meaning |\n|---|---|---|---|\n", c.summary)
		var former []string
		for _, f := range cmd.Flags {
			df := f.(ucli.DocGenerationFlag)
			names := f.Names()
			if vf := f.(ucli.VisibleFlag); !vf.IsVisible() {
				if a, ok := f.(*ucli.StringFlag); ok && a.Action != nil {
					former = append(former, names[0])
				}
				continue
			}
			spelled := make([]string, len(names))
			for i, n := range names {
				spelled[i] = "`-" + n + "`"
			}
			def := strings.Trim(df.GetValue(), `"`)
			switch {
			case !df.TakesValue():
				def = "off"
			case def == "" || def == "0s":
				def = ""
			default:
				def = "`" + def + "`"
			}
			env := ""
			if e := df.GetEnvVars(); len(e) > 0 {
				env = "`$" + e[0] + "`"
			}
			usage := strings.NewReplacer("|", `\|`, "<", `\<`, "*", `\*`).Replace(df.GetUsage())
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", strings.Join(spelled, ", "), env, def, usage)
		}
		if len(former) > 0 {
			slices.Sort(former)
			fmt.Fprintf(&b, "\nFormer names, still accepted (each prints which flag replaces it):")
			for _, n := range former {
				fmt.Fprintf(&b, " `-%s`", n)
			}
			fmt.Fprintln(&b, ".")
		}
	}
	return b.String()
}

// TestCLIDoc checks docs/cli.md against the command tree: its generated
// flag reference is the tree's, every command has a section, and every
// flag the prose names exists.
func TestCLIDoc(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/cli.md has no %q ... %q block", docBegin, docEnd)
	}
	want := docFlags()
	if got := doc[i+len(docBegin) : j]; got != want+"\n" {
		if *updateDoc {
			doc = doc[:i+len(docBegin)] + want + "\n" + doc[j:]
			if err := os.WriteFile(docPath, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Errorf("docs/cli.md's flag reference differs from the command tree: run go test ./internal/cli -run TestCLIDoc -update-doc")
		}
	}

	// Every flag, former names included, and the commands.
	env := Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
	app := newApp(env)
	known := map[string]bool{"help": true, "h": true, "version": true}
	for _, c := range app.Commands {
		if c.Name == "help" || c.Name == "completion" || c.Name == "version" {
			continue
		}
		if !strings.Contains(doc, "\n## "+c.Name+"\n") {
			t.Errorf("docs/cli.md has no section \"## %s\"", c.Name)
		}
		for _, f := range c.Flags {
			for _, n := range f.Names() {
				known[n] = true
			}
		}
	}
	for _, c := range []string{"version", "completion"} {
		if !strings.Contains(doc, "certkeeper "+c) {
			t.Errorf("docs/cli.md does not mention \"certkeeper %s\"", c)
		}
	}
	// The prose: every -flag in a code span is a flag of some command.
	prose := doc[:i] + doc[j:]
	spans := regexp.MustCompile("`[^`\n]+`").FindAllString(prose, -1)
	flagRE := regexp.MustCompile(`(?:^|[\s(/\[])--?([a-z][a-z0-9-]*[a-z0-9])\b`)
	for _, s := range spans {
		for _, m := range flagRE.FindAllStringSubmatch(strings.Trim(s, "`"), -1) {
			if !known[m[1]] && !strings.HasSuffix(s, m[1]+"-*`") {
				t.Errorf("docs/cli.md names -%s (in %s), which no command has", m[1], s)
			}
		}
	}
}
