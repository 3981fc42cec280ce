package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/cmd/certkeeper/internal/config"
	ucli "github.com/urfave/cli/v3"
)

// Every key of the daemon's file is a flag of obtain by the same name
// (the plural of a repeatable flag for a list), or, for a setting only the
// daemon has, a key docs/daemon.md documents; so the file and the command
// line cannot drift apart again.
func TestConfigKeysAreFlags(t *testing.T) {
	env := Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	flags := map[string]ucli.Flag{}
	for _, name := range []string{"obtain", "renew"} {
		for _, c := range newApp(env).Commands {
			if c.Name != name {
				continue
			}
			for _, f := range c.Flags {
				if vf, ok := f.(ucli.VisibleFlag); ok && !vf.IsVisible() {
					continue // a former spelling
				}
				flags[f.Names()[0]] = f
			}
		}
	}
	doc, err := os.ReadFile("../../../../docs/daemon.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := config.Keys()
	if len(keys) < 40 {
		t.Fatalf("config.Keys() lists %d keys: not the whole file", len(keys))
	}
	for _, k := range keys {
		last := k.Path[strings.LastIndex(k.Path, ".")+1:]
		if k.Flag == "" {
			if !bytes.Contains(doc, []byte("`"+last+"`")) {
				t.Errorf("key %s has no flag and docs/daemon.md does not document `%s`", k.Path, last)
			}
			if strings.Contains(last, "_") {
				t.Errorf("key %s: keys are spelled like flags, with dashes", k.Path)
			}
			continue
		}
		f, ok := flags[k.Flag]
		if !ok {
			t.Errorf("key %s stands for -%s, which obtain and renew do not have", k.Path, k.Flag)
			continue
		}
		_, list := f.(*ucli.GenericFlag) // the repeatable flags (listFlag)
		switch {
		case last == k.Flag:
		case list && last == k.Flag+"s":
		default:
			t.Errorf("key %s is not named after its flag -%s (the plural %ss for a repeatable one)", k.Path, k.Flag, k.Flag)
		}
		if !bytes.Contains(doc, []byte("`"+last+"`")) {
			t.Errorf("docs/daemon.md does not document the key `%s`", last)
		}
	}
}
