//go:build unix

package runcmd

import (
	"os/exec"
	"syscall"
)

// KillGroup makes cmd the leader of a process group of its own, and has
// the end of its context (exec.CommandContext) kill that whole group, the
// programs it started included, rather than cmd's process alone: a
// shell script's children (a sleep, nsupdate, curl) would otherwise live
// on, holding its output open, after the caller gave up on it. Call it
// before cmd starts.
func KillGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error {
		// The negative pid names the group; the process itself is in it.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
