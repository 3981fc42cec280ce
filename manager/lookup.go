package manager

import (
	"crypto/tls"
	"strings"
)

// snapshot is an immutable map from names to certificates, replaced as a
// whole whenever a certificate changes, so that Lookup needs no lock.
type snapshot struct {
	exact map[string]*tls.Certificate
	// wild maps the part of a wildcard name after "*." to the
	// certificate.
	wild map[string]*tls.Certificate
}

// rebuildLocked makes a new snapshot from the entries. When two
// certificates claim a name, the one that expires later serves it.
func (m *Manager) rebuildLocked() {
	s := &snapshot{exact: make(map[string]*tls.Certificate, len(m.entries)), wild: map[string]*tls.Certificate{}}
	for _, e := range m.entries {
		if e.held == nil || e.held.tls == nil {
			continue
		}
		for _, id := range e.ids {
			if !e.held.covers && !covers(e.held.leaf, []string{id}) {
				continue
			}
			mp, key := s.exact, id
			if rest, ok := strings.CutPrefix(id, "*."); ok {
				mp, key = s.wild, rest
			}
			if old := mp[key]; old == nil || e.held.leaf.NotAfter.After(old.Leaf.NotAfter) {
				mp[key] = e.held.tls
			}
		}
	}
	m.snap.Store(s)
}

// maxName is the longest DNS name (RFC 1035 §2.3.4) Lookup looks up.
const maxName = 253

// Lookup returns the certificate to serve for serverName (the TLS SNI
// value), or nil. It looks only in memory and never blocks: the exact
// name first, then a wildcard one label up (*.example.com serves
// a.example.com, not a.b.example.com), ignoring case and a trailing dot.
// Certificates are in memory from the moment Manage returns (those the
// store holds) or an order succeeds. Lookup does not allocate.
func (m *Manager) Lookup(serverName string) *tls.Certificate {
	s := m.snap.Load()
	name := strings.TrimSuffix(serverName, ".")
	if len(name) == 0 || len(name) > maxName {
		return nil
	}
	upper := false
	for i := 0; i < len(name) && !upper; i++ {
		upper = 'A' <= name[i] && name[i] <= 'Z'
	}
	if !upper {
		return s.find(name) // the common case: SNI is sent in lower case
	}
	var buf [maxName]byte
	b := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	// Indexing a map with string(bytes) does not allocate.
	if c := s.exact[string(b)]; c != nil {
		return c
	}
	if i := indexDot(b); i >= 0 {
		return s.wild[string(b[i+1:])]
	}
	return nil
}

func (s *snapshot) find(name string) *tls.Certificate {
	if c := s.exact[name]; c != nil {
		return c
	}
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return s.wild[name[i+1:]]
	}
	return nil
}

func indexDot(b []byte) int {
	for i, c := range b {
		if c == '.' {
			return i
		}
	}
	return -1
}
