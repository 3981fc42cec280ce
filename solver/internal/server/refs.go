package server

import "sync"

// Refs keeps a standalone server up while challenges need it: Acquire
// starts it for the first challenge, Release stops it after the last.
// Its lock also guards the caller's server state: start, stop and the
// function given to Locked all run with it held. The zero value is ready.
type Refs struct {
	mu   sync.Mutex
	n    int
	held bool // Hold's reference is counted in n
}

// Acquire counts one more challenge, calling start first if there was
// none. A failed start counts nothing.
func (r *Refs) Acquire(start func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		if err := start(); err != nil {
			return err
		}
	}
	r.n++
	return nil
}

// Release counts one challenge fewer if presented reports that it was
// really presented (a stray clean-up must not stop a server that other
// challenges still need), and calls stop after the last.
func (r *Refs) Release(presented func() bool, stop func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !presented() || r.n == 0 {
		return nil
	}
	r.n--
	if r.n > 0 {
		return nil
	}
	return stop()
}

// Hold counts one reference that is not a challenge, calling start first
// if there was none: the server runs until Unhold, whatever challenges
// come and go. A second Hold before Unhold changes nothing.
func (r *Refs) Hold(start func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held {
		return nil
	}
	if r.n == 0 {
		if err := start(); err != nil {
			return err
		}
	}
	r.n++
	r.held = true
	return nil
}

// Unhold gives back the reference Hold took, if any, and calls stop if no
// challenge needs the server either.
func (r *Refs) Unhold(stop func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.held {
		return nil
	}
	r.held = false
	r.n--
	if r.n > 0 {
		return nil
	}
	return stop()
}

// Locked runs f with the lock held.
func (r *Refs) Locked(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
}
