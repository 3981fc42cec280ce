package manager

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
)

// drawLocked gives e the draw of its renewal moment: the one its state
// keeps for the certificate held; else, unless Config.Rand was given,
// RenewalDraw of the certificate, which every process computes alike, so
// that all of them (and list) renew it at the same moment without having
// written anything; else a draw of Config.Rand.
func (m *Manager) drawLocked(e *entry) {
	if d := e.state().RenewDraw; d > 0 && d < 1 {
		e.r = d
		return
	}
	if m.ownRand && e.held != nil {
		e.r = RenewalDraw(e.held.leaf)
	} else {
		e.r = m.cfg.Rand()
	}
	e.state().RenewDraw = e.r
}

// RenewalDraw returns the number in (0, 1) that places the renewal of
// leaf by the lifetime rule within the jitter (Config.Jitter), when
// Config.Rand is nil: derived from its serial number and issuer, so that
// every process computes the same moment for it.
func RenewalDraw(leaf *x509.Certificate) float64 {
	h := sha256.New()
	h.Write(leaf.RawIssuer)
	if leaf.SerialNumber != nil {
		h.Write(leaf.SerialNumber.Bytes())
	}
	sum := h.Sum(nil)
	v := binary.BigEndian.Uint64(sum[:8]) >> 11 // 53 bits
	return (float64(v) + 0.5) / (1 << 53)
}
