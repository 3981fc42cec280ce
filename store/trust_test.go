//go:build unix

package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/certkeeper/certkeeper/store"
)

// A store directory (or a parent) that someone else could write is
// refused, as ssh refuses such a ~/.ssh; AllowUntrusted turns the refusal
// into a warning.
func TestDirRefusesUntrusted(t *testing.T) {
	base := t.TempDir()
	good := filepath.Join(base, "good")
	if _, err := store.NewDir(good); err != nil {
		t.Fatalf("NewDir of a private directory: %v", err)
	}

	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o770); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenDir(open); !errors.Is(err, store.ErrUntrusted) {
		t.Errorf("OpenDir of a group-writable store = %v, want ErrUntrusted", err)
	}
	if _, err := store.NewDir(filepath.Join(open, "sub")); !errors.Is(err, store.ErrUntrusted) {
		t.Errorf("NewDir under a group-writable parent = %v, want ErrUntrusted", err)
	}
	var warned error
	if _, err := store.OpenDir(open, store.AllowUntrusted(func(err error) { warned = err })); err != nil || !errors.Is(warned, store.ErrUntrusted) {
		t.Errorf("OpenDir with AllowUntrusted = %v, warned %v", err, warned)
	}

	// A world-writable parent with the sticky bit (as /tmp) is fine.
	sticky := filepath.Join(base, "sticky")
	if err := os.Mkdir(sticky, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if _, err := store.NewDir(filepath.Join(sticky, "s")); err != nil {
		t.Errorf("NewDir under a sticky parent: %v", err)
	}

	// Owned by another user (only root can set that up).
	if os.Geteuid() == 0 {
		other := filepath.Join(base, "other")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := store.OpenDir(other); !errors.Is(err, store.ErrUntrusted) {
			t.Errorf("OpenDir of another user's store = %v, want ErrUntrusted", err)
		}
	}
}
