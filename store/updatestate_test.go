package store

import (
	"errors"
	"io/fs"
	"testing"
)

// UpdateState gives update the state stored (nil when none), writes what
// it returns, and writes nothing when it fails.
func TestUpdateState(t *testing.T) {
	ctx := t.Context()
	for _, backend := range []string{"memory", "dir"} {
		t.Run(backend, func(t *testing.T) {
			var s Store = NewMemory()
			if backend == "dir" {
				s = newTestDir(t)
			}
			c := &Certs{Store: s}
			const ca, name = "https://ca.example.test/directory", "a.example.test"
			var seen [][]byte
			put := func(v string) func([]byte) ([]byte, error) {
				return func(stored []byte) ([]byte, error) {
					seen = append(seen, stored)
					return []byte(v), nil
				}
			}
			if err := c.UpdateState(ctx, ca, name, put(`{"n":1}`)); err != nil {
				t.Fatal(err)
			}
			if err := c.UpdateState(ctx, ca, name, put(`{"n":2}`)); err != nil {
				t.Fatal(err)
			}
			if len(seen) != 2 || seen[0] != nil || string(seen[1]) != `{"n":1}` {
				t.Errorf("update was given %q; want nil, then the first state", seen)
			}
			refused := errors.New("refused")
			err := c.UpdateState(ctx, ca, name, func([]byte) ([]byte, error) { return nil, refused })
			if !errors.Is(err, refused) {
				t.Errorf("UpdateState with update failing: %v", err)
			}
			got, err := c.LoadState(ctx, ca, name)
			if err != nil || string(got) != `{"n":2}` {
				t.Errorf("state after a failed update: %q, %v; want the second state", got, err)
			}
			if _, err := c.LoadState(ctx, ca, "b.example.test"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("LoadState of a state never saved: %v", err)
			}
		})
	}
}

// SaveStateUnindexed writes the state as SaveState does but leaves the
// index's schedule as the last SaveState recorded it.
func TestSaveStateUnindexed(t *testing.T) {
	ctx := t.Context()
	d := newTestDir(t)
	c := &Certs{Store: d}
	const ca = "https://ca.test/dir"
	ps := testPairs(t, 1, "a.test")
	if err := c.SaveCertificate(ctx, CertRecord{Name: "a.test", CA: ca, KeyPEM: ps[0].key, ChainPEM: ps[0].chain}); err != nil {
		t.Fatal(err)
	}
	schedule := func() Schedule {
		t.Helper()
		x, err := c.Index(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range x.Entries("") {
			if e.Name == "a.test" && e.Schedule != nil {
				return *e.Schedule
			}
		}
		return Schedule{}
	}
	schedule() // the index built (a rebuild reads the states themselves)
	if err := c.SaveState(ctx, ca, "a.test", []byte(`{"serial":"ab","failures":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveStateUnindexed(ctx, ca, "a.test", []byte(`{"serial":"ab","failures":2,"pending_order":"u"}`)); err != nil {
		t.Fatal(err)
	}
	if got, err := c.LoadState(ctx, ca, "a.test"); err != nil || string(got) != `{"serial":"ab","failures":2,"pending_order":"u"}` {
		t.Errorf("state %s, %v", got, err)
	}
	if s := schedule(); s.Serial != "ab" || s.Failures != 1 {
		t.Errorf("the index's schedule after SaveStateUnindexed: %+v; want the last SaveState's (failures 1)", s)
	}
	if err := c.SaveState(ctx, ca, "a.test", []byte(`{"serial":"ab","failures":3}`)); err != nil {
		t.Fatal(err)
	}
	if s := schedule(); s.Failures != 3 {
		t.Errorf("the index's schedule after SaveState: %+v; want failures 3", s)
	}
}
