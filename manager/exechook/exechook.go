// Package exechook runs a manager's hooks as programs: the
// manager.HookRunner that a program opts into (the certkeeper command
// does), so that the manager package itself starts no process and reads
// no environment.
//
// A hook runs as Hook.Command with Hook.Args (a Command without a slash
// is looked up in the PATH of this process), its output going to the
// manager's log. Its environment is the one the Runner was given, without
// its secrets, plus the event's CERTKEEPER_* variables (manager.HookRun.Env).
// The secrets dropped are CERTKEEPER_EAB_HMAC, CERTKEEPER_TSIG_SECRET,
// CERTKEEPER_DNS_WEBHOOK_AUTHORIZATION, the variables of
// manager.HookRun.Unset (Config.SecretEnv and Hook.Unset) and every
// variable whose name contains SECRET, TOKEN, PASSWORD, PASSWD,
// PASSPHRASE, HMAC, CREDENTIAL or AUTHORIZATION or ends in KEY (unless
// its value is an absolute path); see docs/security.md.
package exechook

import (
	"context"
	"os/exec"
	"slices"
	"time"

	"github.com/certkeeper/certkeeper/internal/runcmd"
	"github.com/certkeeper/certkeeper/internal/secenv"
	"github.com/certkeeper/certkeeper/manager"
)

// Runner is a manager.HookRunner that runs programs. The zero value runs
// them with an empty environment beyond the event's variables. It is safe
// for concurrent use.
type Runner struct {
	// Env is the environment hooks start from, "NAME=value" entries as
	// os.Environ returns them; nil means an empty one. Its secrets are
	// dropped (see the package documentation). It must not be changed
	// after first use.
	Env []string
	// Abort, if set, ends every hook still running when it is done, as
	// the end of RunHook's ctx does (the program and its process group
	// killed): for a command that gives up on an interrupt, so that no
	// hook outlives it. The Manager runs hooks with a context an
	// interrupt does not end (what is stored is deployed).
	Abort context.Context
}

var _ manager.HookRunner = (*Runner)(nil)

// New returns a Runner whose hooks start from env (a copy is kept), for
// manager.Config.HookRunner: exechook.New(os.Environ()) gives hooks this
// process's environment without its secrets.
func New(env []string) *Runner { return &Runner{Env: slices.Clone(env)} }

// RunHook runs run.Hook's program and waits for it. A program that has
// just been written and is still open for writing somewhere ("text file
// busy") is started again, a few times over about a third of a second.
// When ctx ends the program is killed, and RunHook returns at most a
// second later even if children of the program still hold its output
// open. The error is the program's (an *exec.ExitError for an exit
// status other than 0) or its start's.
func (r *Runner) RunHook(ctx context.Context, run manager.HookRun) error {
	if r.Abort != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(r.Abort, cancel)()
	}
	env := append(secenv.Filter(r.Env, run.Unset...), run.Env...)
	return runcmd.Run(ctx, func() *exec.Cmd {
		cmd := exec.CommandContext(ctx, run.Hook.Command, run.Hook.Args...)
		cmd.Env = env
		cmd.WaitDelay = time.Second // do not wait for children holding the output open
		cmd.Stdout, cmd.Stderr = run.Output, run.Output
		runcmd.KillGroup(cmd) // its children too, when ctx ends
		return cmd
	})
}
