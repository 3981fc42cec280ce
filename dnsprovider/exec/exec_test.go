package exec_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/dnsprovider/exec"
	"github.com/certkeeper/certkeeper/solver/dns01"
)

var (
	_ dns01.Provider     = (*exec.Provider)(nil)
	_ dns01.ZoneOptional = (*exec.Provider)(nil)
)

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hook.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPresentCleanup(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "log")
	p := &exec.Provider{
		Command: script(t, `echo "$1 $2 $3 $4 zone=$CERTKEEPER_DNS_ZONE action=$CERTKEEPER_DNS_ACTION fqdn=$CERTKEEPER_DNS_FQDN value=$CERTKEEPER_DNS_VALUE" >> "$LOG"`),
		Args:    []string{"--profile=test"},
		Env:     []string{"LOG=" + log},
	}
	ctx := context.Background()
	if err := p.AddTXT(ctx, "example.com.", "_acme-challenge.example.com.", "v1"); err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveTXT(ctx, "example.com.", "_acme-challenge.example.com.", "v1"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(log)
	want := "--profile=test present _acme-challenge.example.com. v1 zone=example.com. action=present fqdn=_acme-challenge.example.com. value=v1\n" +
		"--profile=test cleanup _acme-challenge.example.com. v1 zone=example.com. action=cleanup fqdn=_acme-challenge.example.com. value=v1\n"
	if string(got) != want {
		t.Errorf("script saw\n%s\nwant\n%s", got, want)
	}
}

func TestFailureQuotesOutput(t *testing.T) {
	t.Parallel()
	p := &exec.Provider{Command: script(t, "echo 'API says: zone not found' >&2; exit 3")}
	err := p.AddTXT(context.Background(), "example.com.", "_acme-challenge.example.com.", "v")
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "API says: zone not found") {
		t.Fatalf("got %v", err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	p := &exec.Provider{Command: script(t, "exec sleep 30"), Timeout: 200 * time.Millisecond}
	start := time.Now()
	err := p.AddTXT(context.Background(), "example.com.", "x.example.com.", "v")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
}

func TestMissingCommand(t *testing.T) {
	t.Parallel()
	if err := (&exec.Provider{Command: "/nonexistent/hook"}).AddTXT(context.Background(), "", "x.", "v"); err == nil {
		t.Fatal("want an error")
	}
	if err := (&exec.Provider{}).AddTXT(context.Background(), "", "x.", "v"); err == nil {
		t.Fatal("want an error")
	}
}

// Output is shared by runs in progress at once (the provider is run for
// several records concurrently): writes to it must not race.
func TestConcurrentRunsShareOutput(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	p := &exec.Provider{Command: script(t, `echo "$1 $2"; echo "$1 $2" >&2`), Output: &out}
	ctx := context.Background()
	errs := make(chan error, 8)
	for i := range 8 {
		go func() { errs <- p.AddTXT(ctx, "example.com.", fmt.Sprintf("_acme-challenge.n%d.example.com.", i), "v") }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(out.String(), "present _acme-challenge."); n != 16 {
		t.Errorf("Output has %d lines, want 16:\n%s", n, out.String())
	}
}

// The program gets no secret from the environment, and a record name
// that is not a plain DNS name never reaches it.
func TestNoSecretsNoBadNames(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	script := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > \""+out+"\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CERTKEEPER_TSIG_SECRET", "tsig-secret")
	t.Setenv("CERTKEEPER_EAB_HMAC", "eab-secret")
	t.Setenv("DNS_API_TOKEN", "token-secret")
	t.Setenv("MY_AUTH", "named-secret")
	p := &exec.Provider{Command: script, Unset: []string{"MY_AUTH"}, Env: os.Environ()}
	for _, bad := range []string{"_acme-challenge.a\nb.example.", "_acme-challenge.a b.example.", "_acme-challenge.a;b.example.", "_acme-challenge..example."} {
		if err := p.AddTXT(context.Background(), "example.", bad, "v"); err == nil {
			t.Errorf("AddTXT(%q) ran the program", bad)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the program ran for a bad name")
	}
	if err := p.AddTXT(context.Background(), "example.", "_acme-challenge.www.example.", "v"); err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(env), "secret") {
		t.Errorf("the program's environment holds a secret:\n%s", env)
	}
	if !strings.Contains(string(env), "PATH=") {
		t.Errorf("the program's environment lacks the PATH of the Env given:\n%s", env)
	}
	if !strings.Contains(string(env), "CERTKEEPER_DNS_FQDN=_acme-challenge.www.example.\n") {
		t.Errorf("the program's environment lacks its record:\n%s", env)
	}
}
