package cli

import (
	"regexp"
	"strings"
	"testing"
)

// Every help, the root's and each command's, spells flags with one dash
// (-store, -d), as the messages, the examples and docs/cli.md do.
func TestHelpSpellsFlagsWithOneDash(t *testing.T) {
	t.Parallel()
	twoDashes := regexp.MustCompile(`(?m)^\s+--[a-z]|, --[a-z]`)
	helps := [][]string{{"-h"}}
	for _, c := range commands() {
		helps = append(helps, []string{c.name, "-h"})
	}
	for _, args := range helps {
		code, out, errs := mainEnv(t, nil, args...)
		if code != ExitOK || errs != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
		if m := twoDashes.FindString(out); m != "" {
			t.Errorf("%v: help spells a flag %q:\n%s", args, m, out)
		}
		if !strings.Contains(out, "\n   -help, -h ") {
			t.Errorf("%v: help lacks the line \"-help, -h\":\n%s", args, out)
		}
	}
	code, out, _ := mainEnv(t, nil, "serve", "-h")
	for _, want := range []string{"\n   -domain value, -d value ", "\n   -tls-listen string ", "\n   -store string ", "\n   -verbose, -v "} {
		if code != ExitOK || !strings.Contains(out, want) {
			t.Errorf("serve -h lacks %q:\n%s", want, out)
		}
	}
}
