package manager

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/store"
)

// A hook gets the program's environment without its secrets: the
// variables certkeeper reads secrets from, those of Config.SecretEnv and
// the ones whose names say secret.
func TestHookEnvironmentHasNoSecrets(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	script := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > \""+out+"\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CERTKEEPER_EAB_HMAC", "eab-secret")
	t.Setenv("CERTKEEPER_TSIG_SECRET", "tsig-secret")
	t.Setenv("CERTKEEPER_DNS_WEBHOOK_AUTHORIZATION", "Bearer webhook-secret")
	t.Setenv("MY_DNS_CRED", "named-secret")
	t.Setenv("SOME_API_TOKEN", "token-secret")
	t.Setenv("KEPT_VARIABLE", "kept")
	t.Setenv("HOOK_OWN", "hook-secret")
	m, err := New(Config{Store: store.NewMemory(), SecretEnv: []string{"MY_DNS_CRED"}})
	if err != nil {
		t.Fatal(err)
	}
	m.runHook(context.Background(), &Hook{Command: script, Unset: []string{"HOOK_OWN"}}, Event{Type: EventObtained, Name: "a.example"})
	env, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the hook did not run: %v", err)
	}
	if strings.Contains(string(env), "secret") {
		t.Errorf("the hook's environment holds a secret:\n%s", env)
	}
	for _, want := range []string{"KEPT_VARIABLE=kept\n", "CERTKEEPER_NAME=a.example\n", "PATH="} {
		if !strings.Contains(string(env), want) {
			t.Errorf("the hook's environment lacks %q", want)
		}
	}
}
