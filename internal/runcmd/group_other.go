//go:build !unix

package runcmd

import "os/exec"

// KillGroup does nothing here: the end of cmd's context kills its
// process alone.
func KillGroup(cmd *exec.Cmd) {}
