package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLockDirNotADirectory: a .locks that is a file fails every lock
// with an error naming its absolute path, as the store's other errors
// name theirs (it named ".locks/<hash>.holder", relative to nothing the
// user knows).
func TestLockDirNotADirectory(t *testing.T) {
	d := newTestDir(t)
	locks := filepath.Join(d.Root(), ".locks")
	if err := os.WriteFile(locks, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := d.Lock(t.Context(), "a")
	if err == nil || !strings.Contains(err.Error(), "open "+locks+"/") || !strings.Contains(err.Error(), locks+", where the store keeps its locks, is not a directory") {
		t.Errorf("Lock with .locks a file = %v, want an error naming %s", err, locks)
	}
}
