//go:build !unix

package etcdtest

import "errors"

// Pause is not supported on this system; see the Unix version.
func (m *Member) Pause() error { return errors.New("etcdtest: Pause needs a Unix system") }

// Resume is not supported on this system; see the Unix version.
func (m *Member) Resume() error { return errors.New("etcdtest: Resume needs a Unix system") }
