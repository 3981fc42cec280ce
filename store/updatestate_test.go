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
