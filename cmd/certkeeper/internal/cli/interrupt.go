package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/exechook"
	"github.com/certkeeper/certkeeper/solver/solverset"
)

// interruptGrace is how long a command is given, after an interrupt
// (Ctrl-C, SIGTERM), to clean up what it presented before Main returns
// ExitInterrupted anyway; a second interrupt (cmd/certkeeper) does not
// wait at all.
const interruptGrace = 5 * time.Second

// cleanups tracks the challenge clean-ups under way, so that an
// interrupted command can say what it waits for.
type cleanups struct {
	mu      sync.Mutex
	pending map[int]string
	// hooks are the deploy hooks running, which an interrupted command
	// waits for too (what is stored is deployed) and ends when it gives
	// up (abort).
	hooks map[int]string
	next  int
	// started, if set, is told of each clean-up (or hook) that starts.
	started func(what string, hook bool)
	abort   context.Context
	stop    context.CancelFunc
}

func newCleanups() *cleanups {
	c := &cleanups{}
	c.abort, c.stop = context.WithCancel(context.Background())
	return c
}

func (c *cleanups) begin(what string) func() { return c.add(what, false) }

// hookRunning tracks a deploy hook that runs, named what.
func (c *cleanups) hookRunning(what string) func() { return c.add(what, true) }

func (c *cleanups) add(what string, hook bool) func() {
	c.mu.Lock()
	if c.pending == nil {
		c.pending, c.hooks = map[int]string{}, map[int]string{}
	}
	id := c.next
	c.next++
	m := c.pending
	if hook {
		m = c.hooks
	}
	m[id] = what
	started := c.started
	c.mu.Unlock()
	if started != nil {
		started(what, hook)
	}
	return func() {
		c.mu.Lock()
		delete(m, id)
		c.mu.Unlock()
	}
}

// list is what is still being cleaned up, sorted; running, the hooks
// still running.
func (c *cleanups) list() []string { return c.names(false) }

func (c *cleanups) running() []string { return c.names(true) }

func (c *cleanups) names(hook bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.pending
	if hook {
		m = c.hooks
	}
	var out []string
	for _, w := range m {
		out = append(out, w)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (c *cleanups) onStart(f func(string, bool)) {
	c.mu.Lock()
	c.started = f
	c.mu.Unlock()
}

// trackedHooks is the command's HookRunner: hooks run by r, tracked in c
// (an interrupted command says it waits for them) and ended by c's abort
// when the command gives up.
type trackedHooks struct {
	r *exechook.Runner
	c *cleanups
}

func (t trackedHooks) RunHook(ctx context.Context, run manager.HookRun) error {
	if t.c != nil {
		defer t.c.hookRunning(fmt.Sprintf("the deploy hook %s (%s)", run.Hook.Command, run.Event.Name))()
	}
	return t.r.RunHook(ctx, run)
}

// buildTracked is solverset.Build with every solver's CleanUp tracked in
// c, described in the user's terms (the record and the program that
// removes it).
func (c *cleanups) buildTracked(cfg solverset.Config, challenges []string, env solverset.Env) (*solverset.Set, error) {
	set, err := solverset.Build(cfg, challenges, env)
	if err != nil {
		return nil, err
	}
	program := ""
	if d, _ := cfg.Canonical(); d.DNS01 != nil && d.DNS01.Exec != "" {
		program = d.DNS01.Exec
	}
	for t, s := range set.Solvers {
		ts := trackedSolver{Solver: s, c: c, program: program}
		if w, ok := s.(challenge.Waiter); ok {
			set.Solvers[t] = trackedWaiter{ts, w}
		} else {
			set.Solvers[t] = ts
		}
	}
	return set, nil
}

type trackedSolver struct {
	challenge.Solver
	c       *cleanups
	program string
}

func (s trackedSolver) CleanUp(ctx context.Context, chal acme.Challenge) error {
	defer s.c.begin(s.describe(chal))()
	return s.Solver.CleanUp(ctx, chal)
}

// describe says what cleaning chal up does.
func (s trackedSolver) describe(chal acme.Challenge) string {
	name := chal.Identifier.Value
	if strings.HasPrefix(string(chal.Type), "dns-") {
		rec, _, err := challenge.RecordFor(chal)
		if err == nil {
			name = rec
		}
		if s.program != "" {
			return fmt.Sprintf("%s: removing TXT %s (%s cleanup)", chal.Type, name, s.program)
		}
		return fmt.Sprintf("%s: removing TXT %s", chal.Type, name)
	}
	return fmt.Sprintf("%s: removing the response for %s", chal.Type, name)
}

type trackedWaiter struct {
	trackedSolver
	w challenge.Waiter
}

func (s trackedWaiter) Wait(ctx context.Context, chal acme.Challenge) error {
	return s.w.Wait(ctx, chal)
}

// runInterruptible runs run and returns its exit code; once ctx is done
// (an interrupt), run is given interruptGrace to clean up, and what it
// is cleaning up is said on stderr; if it is not done by then, the
// return is ExitInterrupted, what was left is named, and run is
// abandoned (the process exits).
func runInterruptible(ctx context.Context, env Env, c *cleanups, grace time.Duration, run func() int) int {
	done := make(chan int, 1)
	go func() { done <- run() }()
	select {
	case code := <-done:
		return code
	case <-ctx.Done():
	}
	if env.live != nil {
		// What is under way is no longer the status: plain lines from
		// here on (the line, and the terminal's ^C, erased).
		env.live.close()
	}
	say := func(what string, hook bool) {
		verb := "cleaning up"
		if hook {
			verb = "waiting for"
		}
		fmt.Fprintf(env.Stderr, "certkeeper: interrupted: %s %s (up to %v; Ctrl-C again to quit at once)\n", verb, what, grace)
	}
	for _, w := range c.list() {
		say(w, false)
	}
	for _, w := range c.running() {
		say(w, true)
	}
	c.onStart(say)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case code := <-done:
		return code
	case <-t.C:
	}
	if hooks := c.running(); len(hooks) > 0 {
		// Not left to run on after this process: ended with their
		// programs, and the command, which waited for them, given a
		// moment to end. A hook stopped so has failed (hook_failed): no
		// later run starts it again.
		c.stop()
		fmt.Fprintf(env.Stderr, "certkeeper: interrupted: stopped %s, which counts as failed: run it again by hand if it must run\n", strings.Join(hooks, "; "))
		t.Reset(2 * time.Second) // RunHook returns within a second of the abort
		select {
		case code := <-done:
			return code
		case <-t.C:
		}
	}
	left := c.list()
	if len(left) == 0 {
		left = []string{"the command"}
	}
	fmt.Fprintf(env.Stderr, "certkeeper: interrupted: clean-up did not finish within %v; exiting without it, so these may be left behind: %s\n",
		grace, strings.Join(left, "; "))
	return ExitInterrupted
}
