package manager

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/store"
)

// recordingRunner is a HookRunner that records what it is given.
type recordingRunner struct {
	mu   sync.Mutex
	runs []HookRun
	err  error
}

func (r *recordingRunner) RunHook(ctx context.Context, run HookRun) error {
	_, _ = io.WriteString(run.Output, "hook output")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, run)
	return r.err
}

// A hook is run by the Config's HookRunner, given the event's variables
// and the names of the variables it must go without: Config.SecretEnv
// and the hook's own Unset. A failure of the runner is EventHookFailed,
// with the output in its error.
func TestHookRunnerGetsTheRun(t *testing.T) {
	r := &recordingRunner{}
	var failed []Event
	m, err := New(Config{Store: store.NewMemory(), SecretEnv: []string{"MY_DNS_CRED"}, HookRunner: r,
		OnEvent: func(ev Event) {
			if ev.Type == EventHookFailed {
				failed = append(failed, ev)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	h := &Hook{Command: "deploy", Args: []string{"now"}, Unset: []string{"HOOK_OWN"}}
	m.runHook(context.Background(), h, Event{Type: EventObtained, Name: "a.example", Identifiers: []string{"a.example", "b.example"}})
	if len(r.runs) != 1 {
		t.Fatalf("the runner ran %d hooks, want 1", len(r.runs))
	}
	run := r.runs[0]
	if run.Hook.Command != "deploy" || !slices.Equal(run.Hook.Args, []string{"now"}) || run.Event.Name != "a.example" {
		t.Errorf("run = %+v, want the hook deploy now for a.example", run)
	}
	if !slices.Equal(run.Unset, []string{"MY_DNS_CRED", "HOOK_OWN"}) {
		t.Errorf("Unset = %q, want Config.SecretEnv and the hook's Unset", run.Unset)
	}
	for _, want := range []string{"CERTKEEPER_EVENT=obtained", "CERTKEEPER_NAME=a.example", "CERTKEEPER_NAMES=a.example,b.example"} {
		if !slices.Contains(run.Env, want) {
			t.Errorf("Env %q lacks %q", run.Env, want)
		}
	}
	if len(failed) != 0 {
		t.Errorf("a hook that succeeded gave %v", failed)
	}

	r.err = errors.New("exit status 3")
	m.runHook(context.Background(), h, Event{Type: EventObtained, Name: "a.example"})
	if len(failed) != 1 || !errors.Is(failed[0].Err, r.err) {
		t.Fatalf("a failed hook gave the events %v, want one EventHookFailed wrapping the runner's error", failed)
	}
	if got := failed[0].Err.Error(); !strings.Contains(got, "hook output") {
		t.Errorf("the failure %q does not carry the hook's output", got)
	}
}

// Hooks without a runner are refused at once, in the Config and in a
// Spec, rather than skipped when an event comes.
func TestHooksNeedARunner(t *testing.T) {
	_, err := New(Config{Store: store.NewMemory(), Hooks: []Hook{{Command: "deploy"}}})
	if !errors.Is(err, ErrNoHookRunner) {
		t.Errorf("New with Hooks and no HookRunner: %v, want ErrNoHookRunner", err)
	}
	m, err := New(Config{Store: store.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	c := Spec{Identifiers: []acme.Identifier{acme.DNSIdentifier("a.example")},
		Issuer: &issue.Issuer{Client: &acme.Client{DirectoryURL: "https://ca.example.test/directory"}}}
	c.Hooks = []Hook{{Command: "deploy"}}
	if err := m.Manage(context.Background(), c); !errors.Is(err, ErrNoHookRunner) {
		t.Errorf("Manage of a certificate with Hooks and no HookRunner: %v, want ErrNoHookRunner", err)
	}
}
