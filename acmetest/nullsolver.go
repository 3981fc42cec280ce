package acmetest

import (
	"context"
	"sync"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

// NullSolver is a challenge.Solver that does nothing and is always ready
// (txacme's NullResponder): for orders against a CA that does not look
// at the answer, such as a fake CA whose validations the controller
// decides (the default when CAOptions names no address to check).
//
// It counts what it was asked, so a test can check that every challenge
// presented was cleaned up. The zero value is ready to use; it is safe for
// concurrent use.
type NullSolver struct {
	mu       sync.Mutex
	presents int
	cleanups int
}

var _ challenge.Solver = (*NullSolver)(nil)

// Present does nothing and returns nil.
func (s *NullSolver) Present(ctx context.Context, chal acme.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.presents++
	return nil
}

// CleanUp does nothing and returns nil.
func (s *NullSolver) CleanUp(ctx context.Context, chal acme.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups++
	return nil
}

// Calls returns how many times Present and CleanUp were called.
func (s *NullSolver) Calls() (presents, cleanups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presents, s.cleanups
}
