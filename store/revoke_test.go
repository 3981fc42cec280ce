package store

import (
	"errors"
	"testing"
	"time"
)

// LoadRevocation finds the record MarkRevoked wrote for a serial however
// it is spelled (case, colons, leading zeros), in both layouts, whether
// or not the certificate is stored; nil for a serial with no record, and
// ErrInvalidKey for one that is not hexadecimal. MarkRevokedOnce keeps
// the record it finds.
func TestLoadRevocation(t *testing.T) {
	ctx := t.Context()
	const ca, name = "https://ca.example.test/dir", "rev.example.test"
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, layout := range []Layout{LayoutStandard, LayoutShared} {
		c := &Certs{Store: NewMemory(), Layout: layout}
		if rv, err := c.LoadRevocation(ctx, ca, name, "0abc"); rv != nil || err != nil {
			t.Errorf("layout %v: LoadRevocation with no record = %+v, %v; want nil, nil", layout, rv, err)
		}
		if err := c.MarkRevoked(ctx, ca, name, "0A:BC", at, 4); err != nil {
			t.Fatal(err)
		}
		for _, serial := range []string{"abc", "0ABC", "0a:bc", "0xabc"} {
			rv, err := c.LoadRevocation(ctx, ca, name, serial)
			if err != nil || rv == nil || rv.Serial != "abc" || !rv.At.Equal(at) || rv.Reason != 4 {
				t.Errorf("layout %v: LoadRevocation(%q) = %+v, %v; want serial abc, reason 4, at %v", layout, serial, rv, err, at)
			}
		}
		if rv, err := c.LoadRevocation(ctx, ca, name, "abd"); rv != nil || err != nil {
			t.Errorf("layout %v: LoadRevocation of another serial = %+v, %v; want nil, nil", layout, rv, err)
		}
		if _, err := c.LoadRevocation(ctx, ca, name, "zz"); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("layout %v: LoadRevocation(zz) = %v, want ErrInvalidKey", layout, err)
		}
		if ok, err := c.MarkRevokedOnce(ctx, ca, name, "abc", at.Add(time.Hour), 1); ok || err != nil {
			t.Errorf("layout %v: MarkRevokedOnce over a record = %v, %v; want kept", layout, ok, err)
		}
		if rv, _ := c.LoadRevocation(ctx, ca, name, "abc"); rv == nil || rv.Reason != 4 || !rv.At.Equal(at) {
			t.Errorf("layout %v: the record after MarkRevokedOnce: %+v, want the first", layout, rv)
		}
	}
}
