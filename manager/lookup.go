package manager

import (
	"crypto/tls"
	"strings"
	"time"
)

// snapshot is an immutable map from names to slots, replaced as a whole
// whenever the set of certificates changes, so that Lookup needs no lock.
// A slot's certificate may be set and cleared without a new snapshot: a
// certificate read on demand, or dropped from the cache (see lazy.go).
type snapshot struct {
	exact map[string]*slot
	// wild maps the part of a wildcard name after "*." to the slot.
	wild map[string]*slot
}

// indexMin is how many certificates a Manage call needs before it reads
// the store's index rather than the certificates (Config.CacheSize).
const indexMin = 64

// rebuildLocked makes a new snapshot from the entries. When two
// certificates claim a name, the one that expires later serves it.
func (m *Manager) rebuildLocked() {
	s := &snapshot{exact: make(map[string]*slot, len(m.entries)), wild: map[string]*slot{}}
	for _, e := range m.entries {
		var notAfter time.Time
		switch {
		case e.lazy != nil:
			notAfter = e.lazy.notAfter
		case e.held != nil && e.held.tls != nil:
			notAfter = e.held.leaf.NotAfter
		default:
			continue
		}
		sl := e.slot
		if sl == nil || sl.notAfter != notAfter {
			// A new slot for a new certificate: the old snapshot keeps
			// the old one.
			sl = &slot{e: e, notAfter: notAfter}
			e.slot = sl
		}
		if e.held != nil {
			sl.cert.Store(e.held.tls)
		} else {
			sl.cert.Store(nil)
		}
		for _, id := range e.ids {
			if e.held != nil && !e.held.covers && !covers(e.held.leaf, []string{id}) {
				continue
			}
			mp, key := s.exact, id
			if rest, ok := strings.CutPrefix(id, "*."); ok {
				mp, key = s.wild, rest
			}
			if old := mp[key]; old == nil || sl.notAfter.After(old.notAfter) {
				mp[key] = sl
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
// store holds) or an order succeeds, unless Config.CacheSize is set:
// then only those loaded and not dropped since are (see Load). Lookup
// does not allocate.
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
	if sl := s.exact[string(b)]; sl != nil {
		return sl.get()
	}
	if i := indexDot(b); i >= 0 {
		return s.wild[string(b[i+1:])].get()
	}
	return nil
}

func (s *snapshot) find(name string) *tls.Certificate {
	if sl := s.exact[name]; sl != nil {
		return sl.get()
	}
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return s.wild[name[i+1:]].get()
	}
	return nil
}

// get returns the certificate in sl (nil for a nil slot or one not
// loaded) and marks it used for the cache's eviction hand.
func (sl *slot) get() *tls.Certificate {
	if sl == nil {
		return nil
	}
	c := sl.cert.Load()
	if c != nil && !sl.ref.Load() {
		sl.ref.Store(true)
	}
	return c
}

func indexDot(b []byte) int {
	for i, c := range b {
		if c == '.' {
			return i
		}
	}
	return -1
}
