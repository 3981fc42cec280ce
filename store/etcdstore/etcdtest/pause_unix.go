//go:build unix

package etcdtest

import (
	"errors"
	"syscall"
)

// Pause stops the member's process with SIGSTOP without ending it: the
// rest of the cluster goes on without it (a quorum permitting) and it
// falls behind, as a member cut off for a while does. Resume lets it run
// again; until it has caught up, what it serves from its own state is
// stale.
func (m *Member) Pause() error { return m.signal(syscall.SIGSTOP) }

// Resume continues a member stopped by Pause (SIGCONT).
func (m *Member) Resume() error { return m.signal(syscall.SIGCONT) }

func (m *Member) signal(sig syscall.Signal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || !m.Running() {
		return errors.New("etcdtest: member " + m.Name + " is not running")
	}
	return m.cmd.Process.Signal(sig)
}
