package solverset

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	dnsexec "github.com/certkeeper/certkeeper/dnsprovider/exec"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// The former dns01.hook is the exec provider, as the hook worked: no
// propagation check, no CNAME followed; its program gets no secret (those
// the table names among them) and no record name the CA could have
// slipped a newline into.
func TestFormerHookIsExec(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	script := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > \""+out+"\"\necho \"$@\" >> \""+out+"\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	environ := []string{"CERTKEEPER_EAB_HMAC=eab-secret", "CERTKEEPER_TSIG_SECRET=tsig-secret", "KEPT_VARIABLE=kept"}
	s, err := Build(Config{DNS01: &DNS01{Hook: script}}, nil, Env{Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	sol, ok := s.Solvers[acme.ChallengeDNS01].(*dns01.Solver)
	if !ok {
		t.Fatalf("dns-01 solver %T, want *dns01.Solver", s.Solvers[acme.ChallengeDNS01])
	}
	p, ok := sol.Provider.(*dnsexec.Provider)
	if !ok || p.Command != script || !sol.NoPropagationCheck || !sol.NoCNAME {
		t.Fatalf("solver %+v, provider %+v: want the exec provider running %s, no propagation check, no CNAME", sol, sol.Provider, script)
	}
	if err := p.AddTXT(context.Background(), "", "_acme-challenge.a\nb.example.", "v"); err == nil {
		t.Error("the program ran for a record name holding a newline")
	}
	if err := p.AddTXT(context.Background(), "example.", "_acme-challenge.www.example.", "v"); err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(env), "secret") || !strings.Contains(string(env), "KEPT_VARIABLE=kept\n") ||
		!strings.HasSuffix(string(env), "present _acme-challenge.www.example. v\n") {
		t.Errorf("hook environment and arguments:\n%s", env)
	}
}

// Canonical rewrites the former hook and says so; what it cannot rewrite
// is left for Validate, which names the conflict.
func TestCanonicalHook(t *testing.T) {
	c, notes := Config{DNS01: &DNS01{Provider: "hook", Hook: "/h", Delay: Duration(5e9)}}.Canonical()
	want := DNS01{Provider: "exec", Exec: "/h", NoPropagationCheck: true, NoCNAME: true, Delay: Duration(5e9)}
	if c.DNS01 == nil || c.DNS01.Provider != want.Provider || c.DNS01.Exec != want.Exec || !c.DNS01.NoPropagationCheck ||
		!c.DNS01.NoCNAME || c.DNS01.Delay != want.Delay || c.DNS01.Hook != "" || len(notes) != 1 || !strings.Contains(notes[0], "dns01.hook") {
		t.Errorf("Canonical: %+v, %q", c.DNS01, notes)
	}
	orig := Config{DNS01: &DNS01{Hook: "/h"}}
	orig.Canonical()
	if orig.DNS01.Hook != "/h" || orig.DNS01.Provider != "" {
		t.Error("Canonical changed its receiver's table")
	}
	if _, notes := (Config{DNS01: &DNS01{Provider: "exec", Exec: "/e"}}).Canonical(); notes != nil {
		t.Errorf("notes %q for a table without former spellings", notes)
	}
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{DNS01: &DNS01{Hook: "/h", Exec: "/e", Provider: "exec"}}, "dns01.hook: the former spelling of exec: give exec only"},
		{Config{DNS01: &DNS01{Hook: "/h", Provider: "rfc2136", Server: "ns:53"}}, `dns01.hook: the former spelling of provider "exec": not used with provider "rfc2136"`},
		{Config{DNS01: &DNS01{Provider: "hook"}}, `dns01.provider: "hook" is the former spelling of "exec"`},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.c.DNS01, err, tc.want)
		}
	}
}
