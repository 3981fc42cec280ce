package exechook_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/exechook"
)

// A hook gets the Runner's environment without its secrets (the variables
// certkeeper reads secrets from, those of Unset, the ones whose names say
// secret), plus the event's variables; nothing of this process's own
// environment that the Runner was not given.
func TestHookEnvironmentHasNoSecrets(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	script := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > \""+out+"\"\necho said\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOT_GIVEN", "process-only")
	r := exechook.New([]string{
		"CERTKEEPER_EAB_HMAC=eab-secret",
		"CERTKEEPER_TSIG_SECRET=tsig-secret",
		"CERTKEEPER_DNS_WEBHOOK_AUTHORIZATION=Bearer webhook-secret",
		"MY_DNS_CRED=named-secret",
		"SOME_API_TOKEN=token-secret",
		"HOOK_OWN=hook-secret",
		"KEPT_VARIABLE=kept",
		"PATH=" + os.Getenv("PATH"),
	})
	var output bytes.Buffer
	err := r.RunHook(t.Context(), manager.HookRun{
		Hook:   manager.Hook{Command: script},
		Env:    []string{"CERTKEEPER_NAME=a.example"},
		Unset:  []string{"MY_DNS_CRED", "HOOK_OWN"},
		Output: &output,
	})
	if err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the hook did not run: %v", err)
	}
	for _, bad := range []string{"secret", "NOT_GIVEN"} {
		if strings.Contains(string(env), bad) {
			t.Errorf("the hook's environment holds %q:\n%s", bad, env)
		}
	}
	for _, want := range []string{"KEPT_VARIABLE=kept\n", "CERTKEEPER_NAME=a.example\n", "PATH="} {
		if !strings.Contains(string(env), want) {
			t.Errorf("the hook's environment lacks %q", want)
		}
	}
	if output.String() != "said\n" {
		t.Errorf("output = %q, want the hook's", output.String())
	}
}

// A hook that fails gives its exit status as an *exec.ExitError; one that
// outlives its context is stopped.
func TestHookFailsAndTimesOut(t *testing.T) {
	r := &exechook.Runner{}
	err := r.RunHook(t.Context(), manager.HookRun{Hook: manager.Hook{Command: "/bin/sh", Args: []string{"-c", "exit 3"}}, Output: &bytes.Buffer{}})
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("exit 3 gave %v, want an *exec.ExitError with status 3", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.RunHook(ctx, manager.HookRun{Hook: manager.Hook{Command: "/bin/sh", Args: []string{"-c", "exit 0"}}, Output: &bytes.Buffer{}}); err == nil {
		t.Error("a hook run with an ended context succeeded")
	}
}
