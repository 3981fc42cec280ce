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
	next    int
	// started, if set, is told of each clean-up that starts.
	started func(what string)
}

func (c *cleanups) begin(what string) func() {
	c.mu.Lock()
	if c.pending == nil {
		c.pending = map[int]string{}
	}
	id := c.next
	c.next++
	c.pending[id] = what
	started := c.started
	c.mu.Unlock()
	if started != nil {
		started(what)
	}
	return func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}
}

// list is what is still being cleaned up, sorted.
func (c *cleanups) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, w := range c.pending {
		out = append(out, w)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (c *cleanups) onStart(f func(string)) {
	c.mu.Lock()
	c.started = f
	c.mu.Unlock()
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
	say := func(what string) {
		fmt.Fprintf(env.Stderr, "certkeeper: interrupted: cleaning up %s (up to %v; Ctrl-C again to quit at once)\n", what, grace)
	}
	for _, w := range c.list() {
		say(w)
	}
	c.onStart(say)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case code := <-done:
		return code
	case <-t.C:
	}
	left := c.list()
	if len(left) == 0 {
		left = []string{"the command"}
	}
	fmt.Fprintf(env.Stderr, "certkeeper: interrupted: clean-up did not finish within %v; exiting without it, so these may be left behind: %s\n",
		grace, strings.Join(left, "; "))
	return ExitInterrupted
}
