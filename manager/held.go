package manager

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"strings"

	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// held is a certificate in memory.
type held struct {
	tls    *tls.Certificate // nil when the store has no key for it
	leaf   *x509.Certificate
	key    crypto.Signer
	covers bool // the leaf is valid for every identifier managed
	// revoked is the store's record of the leaf's revocation, if any:
	// such a certificate is due at once, and after a key compromise its
	// key is never used again.
	revoked *store.Revocation
	// version is the number of the stored version it was read from or
	// saved as (store.CertRecord.Version), 0 if unknown.
	version int
}

// compromised reports whether h's key must not be used again (revoked
// for keyCompromise, RFC 5280 §5.3.1 reason 1).
func (h *held) compromised() bool { return h != nil && h.revoked != nil && h.revoked.Reason == 1 }

// storedMayDiffer reports whether the store may hold for c another
// certificate than h, the one e held before the attempt took the store's
// lock: when h's stored version is known and still the one stored
// (store.Certs.StoredVersion, one read of the store's pointer), the
// certificate is not read and parsed again. With ReuseKey it is always
// read, for the revocation another process may have recorded meanwhile
// (a key compromised is not used again), which changes no version.
func (m *Manager) storedMayDiffer(ctx context.Context, c Spec, h *held) bool {
	if h == nil || h.version == 0 || c.ReuseKey {
		return true
	}
	n, err := m.certs.StoredVersion(ctx, c.Issuer.Client.DirectoryURL, c.Name)
	return err != nil || n != h.version
}

// heldRevoked takes the revocation that h, the certificate stored for e,
// records when it is the certificate e holds and e knows of none yet:
// another process revoked it since e loaded it (a key compromised then is
// not used again).
func (m *Manager) heldRevoked(e *entry, h *held) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.held != nil && e.held.revoked == nil && serial(e.held.leaf) == serial(h.leaf) {
		e.held.revoked = h.revoked
	}
}

// parseHeld turns a stored certificate into one that can be served. The
// store has parsed and matched key and chain already (store.CertRecord's
// Key and Certificates); they are parsed here only when it did not.
func parseHeld(res store.CertRecord) (*held, error) {
	h, err := parseHeldPair(res)
	if err != nil {
		return nil, err
	}
	if r := res.Revoked; r != nil && strings.EqualFold(strings.TrimLeft(r.Serial, "0"), serial(h.leaf)) {
		h.revoked = r
	}
	h.version = res.Version
	return h, nil
}

func parseHeldPair(res store.CertRecord) (*held, error) {
	certs := res.Certificates
	if len(certs) == 0 {
		var err error
		if certs, err = keys.ParseCertificates(res.ChainPEM); err != nil {
			return nil, err
		}
	}
	if len(res.KeyPEM) == 0 {
		return &held{leaf: certs[0]}, nil
	}
	key := res.Key
	if key == nil {
		var err error
		if key, err = keys.ParsePEM(res.KeyPEM); err != nil {
			return nil, err
		}
		pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(certs[0].PublicKey) {
			return nil, store.ErrKeyMismatch
		}
	}
	c := &tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, cert := range certs {
		c.Certificate = append(c.Certificate, cert.Raw)
	}
	return &held{tls: c, leaf: certs[0], key: key}, nil
}

// covers reports whether leaf is valid for every identifier in ids.
func covers(leaf *x509.Certificate, ids []string) bool {
	for _, id := range ids {
		if ip := net.ParseIP(id); ip != nil {
			if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
				return false
			}
			continue
		}
		if !slices.ContainsFunc(leaf.DNSNames, func(n string) bool { return strings.EqualFold(n, id) }) {
			return false
		}
	}
	return true
}

// newer reports whether a was issued after b.
func newer(a, b *x509.Certificate) bool {
	if b == nil {
		return true
	}
	return a.NotBefore.After(b.NotBefore) || a.NotBefore.Equal(b.NotBefore) && a.NotAfter.After(b.NotAfter)
}

// installLocked makes h the certificate held and served for e.
func (m *Manager) installLocked(e *entry, h *held) {
	e.newCertificate(h)
	m.cacheAddLocked(e)
	m.drawLocked(e)
	if !e.removed && !m.renewSlotLocked(e) {
		m.rebuildLocked()
	}
}

// renewSlotLocked serves e's new certificate from the slot that serves
// every one of e's names already, when the new certificate covers them
// all and expires no sooner, so that it still wins each name: then the
// snapshot stays as it is. A rebuild reads every entry under
// Manager.mu and makes a new map, and a renewal storm of N certificates
// made N of them (BenchmarkRenewalStorm, 600 due at once: 26 → 72
// certificates/s with this). It reports false, and changes nothing,
// when the snapshot must be rebuilt.
func (m *Manager) renewSlotLocked(e *entry) bool {
	sl, h := e.slot, e.held
	if sl == nil || h == nil || h.tls == nil || !h.covers || h.leaf.NotAfter.Before(sl.notAfter) {
		return false
	}
	s := m.snap.Load()
	if s == nil {
		return false
	}
	for _, id := range e.ids {
		mp, key := s.exact, id
		if rest, ok := strings.CutPrefix(id, "*."); ok {
			mp, key = s.wild, rest
		}
		if mp[key] != sl {
			return false
		}
	}
	sl.notAfter = h.leaf.NotAfter
	sl.cert.Store(h.tls)
	return true
}
