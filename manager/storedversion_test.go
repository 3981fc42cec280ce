package manager_test

import (
	"bytes"
	"testing"

	"github.com/certkeeper/certkeeper/store"
)

// An attempt does not read the stored certificate again when the version
// stored is the one held; with ReuseKey it still does, so that a key
// compromise another process recorded since the load (certkeeper revoke)
// is seen: its key is not used again.
func TestRevokedMeanwhileKeyNotReused(t *testing.T) {
	const name = "a.example.com"
	ctx := ctxT(t)
	clock, ds := dirStore(t)
	certs := &store.Certs{Store: ds}
	h := newHarness(t, ds, clock, &fakeCA{clock: clock, life: 90 * day}, nil)
	spec := testCert(name)
	spec.ReuseKey = true
	if err := h.m.Manage(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.RenewIfDue(ctx, name); err != nil {
		t.Fatal(err)
	}
	first, err := certs.LoadCertificate(ctx, testCA, name)
	if err != nil {
		t.Fatal(err)
	}
	// Renewed with the same key, as asked.
	clock.Advance(day)
	if err := h.m.Renew(ctx, name); err != nil {
		t.Fatal(err)
	}
	second, err := certs.LoadCertificate(ctx, testCA, name)
	if err != nil {
		t.Fatal(err)
	}
	if second.Version == first.Version || !bytes.Equal(second.KeyPEM, first.KeyPEM) {
		t.Fatalf("renewal with ReuseKey: version %d → %d, same key %v; want a new version with the same key",
			first.Version, second.Version, bytes.Equal(second.KeyPEM, first.KeyPEM))
	}
	// Another process records the key compromised.
	if err := certs.MarkRevoked(ctx, testCA, name, second.Certificates[0].SerialNumber.Text(16), clock.Now(), 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(day)
	if err := h.m.Renew(ctx, name); err != nil {
		t.Fatal(err)
	}
	third, err := certs.LoadCertificate(ctx, testCA, name)
	if err != nil {
		t.Fatal(err)
	}
	if third.Version == second.Version || bytes.Equal(third.KeyPEM, second.KeyPEM) {
		t.Errorf("renewal after the key compromise: version %d → %d, same key %v; want a new key",
			second.Version, third.Version, bytes.Equal(third.KeyPEM, second.KeyPEM))
	}
}
