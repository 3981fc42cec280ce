package manager_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"

	"github.com/certkeeper/certkeeper/manager"
)

// The renewal draw comes from the certificate: the same for every process,
// different between certificates, inside (0, 1).
func TestRenewalDraw(t *testing.T) {
	seen := map[float64]bool{}
	for i := range 1000 {
		leaf := &x509.Certificate{SerialNumber: big.NewInt(int64(i) + 1), RawIssuer: []byte("issuer"), Issuer: pkix.Name{CommonName: "issuer"}}
		d := manager.RenewalDraw(leaf)
		if d <= 0 || d >= 1 {
			t.Fatalf("RenewalDraw = %v, not in (0, 1)", d)
		}
		if again := manager.RenewalDraw(leaf); again != d {
			t.Fatalf("RenewalDraw not stable: %v then %v", d, again)
		}
		seen[d] = true
	}
	if len(seen) < 1000 {
		t.Errorf("%d distinct draws of 1000 certificates", len(seen))
	}
}
