package manager

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
)

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
