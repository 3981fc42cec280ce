package manager

import (
	"context"
	"crypto/tls"
	"errors"

	"github.com/certkeeper/certkeeper/store"
)

// Manager keeps certificates valid. Make one with New; its methods are safe
// for concurrent use.
type Manager struct {
	cfg   Config
	certs store.Certs
}

// New returns a Manager for cfg.
func New(cfg Config) (*Manager, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Manager{cfg: cfg, certs: store.Certs{Store: cfg.Store, Layout: cfg.Layout}}, nil
}

var errTODO = errors.New("manager: not implemented yet")

// Manage adds certificates, or replaces those of the same names, and loads
// what the store holds for them into memory at once, without any network
// call.
func (m *Manager) Manage(ctx context.Context, certs ...Certificate) error { return errTODO }

// Unmanage stops managing the named certificates. What the store holds is
// left alone.
func (m *Manager) Unmanage(names ...string) {}

// Run obtains what is missing and renews on schedule until ctx is done.
func (m *Manager) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Ready returns once the first pass has been attempted for every
// certificate that was missing, expired or inside the panic interval.
func (m *Manager) Ready(ctx context.Context) error { return errTODO }

// Renew orders the named certificate now.
func (m *Manager) Renew(ctx context.Context, name string) error { return errTODO }

// Lookup returns the certificate for serverName from memory.
func (m *Manager) Lookup(serverName string) *tls.Certificate { return nil }

// Status describes every managed certificate, sorted by name.
func (m *Manager) Status() []Status { return nil }

// LoadStatus reads the state persisted by Managers for the CA with
// directory URL ca, without running one.
func LoadStatus(ctx context.Context, s store.Store, ca string) ([]Status, error) { return nil, errTODO }
