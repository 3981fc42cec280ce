package manager

import (
	"cmp"
	"slices"
)

// Status describes every managed certificate, sorted by name.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.entries))
	for _, e := range m.entries {
		out = append(out, m.statusLocked(e))
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func (m *Manager) statusLocked(e *entry) Status {
	var zero state
	st := e.peekState(&zero)
	s := Status{
		Name:           e.spec.Name,
		Identifiers:    slices.Clone(e.ids),
		NextRenewal:    e.due,
		LastSuccess:    st.LastSuccess,
		LastError:      st.LastError,
		Failures:       st.Failures,
		Retrying:       st.Failures > 0 && !e.due.IsZero() && e.due.Equal(st.NextAttempt),
		ARIWindowStart: st.ARIWindowStart,
		ARIWindowEnd:   st.ARIWindowEnd,
		PendingOrder:   st.PendingOrder,
	}
	if z := e.lazy; z != nil {
		s.NotBefore, s.NotAfter, s.Serial = z.notBefore, z.notAfter, z.serial
		s.CertIdentifiers = slices.Clone(e.ids) // the index said it covers them
	}
	if e.held != nil {
		l := e.held.leaf
		s.NotBefore, s.NotAfter = l.NotBefore, l.NotAfter
		s.Serial = serial(l)
		s.CertIdentifiers = slices.Clone(l.DNSNames)
		for _, ip := range l.IPAddresses {
			s.CertIdentifiers = append(s.CertIdentifiers, ip.String())
		}
	}
	return s
}

// StatusOf describes the named certificate; false if it is not managed.
func (m *Manager) StatusOf(name string) (Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[name]
	if e == nil {
		return Status{}, false
	}
	return m.statusLocked(e), true
}
