package solverset

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

// The legacy dns-01 hook gets no secret (those the table names among
// them) and no record name the CA could have slipped a newline into.
func TestLegacyHookEnvironment(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	script := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > \""+out+"\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CERTKEEPER_EAB_HMAC", "eab-secret")
	t.Setenv("CERTKEEPER_TSIG_SECRET", "tsig-secret")
	t.Setenv("KEPT_VARIABLE", "kept")
	s, err := Build(Config{DNS01: &DNS01{Hook: script}}, nil, Env{})
	if err != nil {
		t.Fatal(err)
	}
	cb := s.Solvers[acme.ChallengeDNS01].(*dns01.Callback)
	bad := acme.Challenge{Type: acme.ChallengeDNS01, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "a\nb.example"}, KeyAuthorization: "t.k"}
	if err := cb.PresentFunc(context.Background(), bad); err == nil {
		t.Error("the hook ran for an identifier holding a newline")
	}
	good := bad
	good.Identifier.Value = "www.example"
	if err := cb.PresentFunc(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(env), "secret") || !strings.Contains(string(env), "KEPT_VARIABLE=kept\n") {
		t.Errorf("hook environment:\n%s", env)
	}
}
