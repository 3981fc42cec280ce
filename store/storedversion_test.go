package store

import (
	"testing"
	"time"
)

// StoredVersion names the version LoadCertificate reads, and changes
// with every save of another certificate and every Restore: a holder of
// a record can tell, by one read of the pointer, whether it is still the
// one stored.
func TestStoredVersion(t *testing.T) {
	for _, backend := range []string{"memory", "dir"} {
		t.Run(backend, func(t *testing.T) {
			var s Store = NewMemory()
			if backend == "dir" {
				s = newTestDir(t)
			}
			c := &Certs{Store: s, KeepVersions: 3}
			ctx := t.Context()
			const ca, name = "https://ca.test/dir", "a.test"
			stored := func(want int) {
				t.Helper()
				n, err := c.StoredVersion(ctx, ca, name)
				if err != nil || n != want {
					t.Fatalf("StoredVersion = %d, %v; want %d", n, err, want)
				}
				if want == 0 {
					return
				}
				res, err := c.LoadCertificate(ctx, ca, name)
				if err != nil || res.Version != want {
					t.Fatalf("LoadCertificate's Version = %d, %v; want %d", res.Version, err, want)
				}
			}
			stored(0) // none stored
			pairs := testPairs(t, 2, name)
			for i, p := range pairs {
				if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: p.key, ChainPEM: p.chain}); err != nil {
					t.Fatal(err)
				}
				stored(i + 1)
			}
			// The same certificate saved again is the same version.
			if err := c.SaveCertificate(ctx, CertRecord{Name: name, CA: ca, KeyPEM: pairs[1].key, ChainPEM: pairs[1].chain}); err != nil {
				t.Fatal(err)
			}
			stored(2)
			if err := c.Restore(ctx, ca, name, 1); err != nil {
				t.Fatal(err)
			}
			stored(1)
			if err := c.MarkRevoked(ctx, ca, name, "01", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), 0); err != nil {
				t.Fatal(err)
			}
			stored(1) // a revocation is recorded apart
			if err := c.DeleteCertificate(ctx, ca, name); err != nil {
				t.Fatal(err)
			}
			stored(0)
			shared := &Certs{Store: s, Layout: LayoutShared}
			if n, err := shared.StoredVersion(ctx, ca, name); n != 0 || err != nil {
				t.Errorf("LayoutShared: StoredVersion = %d, %v; want 0", n, err)
			}
		})
	}
}
