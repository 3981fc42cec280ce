package manager

import (
	"context"
	"crypto/x509"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
)

// Seams for the tests of package manager_test, which need
// managertest (that imports this package).

var ErrNoARI = errNoARI

func SetObtain(m *Manager, f func(ctx context.Context, c Spec, req issue.Request) (*issue.Issued, error)) {
	m.obtain = f
}

func SetRenewalInfo(m *Manager, f func(ctx context.Context, c Spec, leaf *x509.Certificate) (acme.RenewalInfo, error)) {
	m.renewalInfo = f
}

// Idle reports whether Run is running with no background check under way.
func Idle(m *Manager) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running && m.busy == 0
}

// CacheStats returns the number of entries counted in the parsed-certificate
// cache, the number of entries holding a parsed certificate, and the
// number of entries.
func CacheStats(m *Manager) (cached, held, entries int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries {
		if e.held != nil {
			held++
		}
	}
	return len(m.cache), held, len(m.entries)
}
