package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRemoveEmptyDir removes a certificate's directory that holds
// nothing, and keeps one that holds anything.
func TestRemoveEmptyDir(t *testing.T) {
	const ca = "https://ca.test/dir"
	d := newTestDir(t)
	c := &Certs{Store: d}
	ctx := t.Context()
	for _, n := range []string{"a.test", "b.test"} {
		if err := c.SaveLineage(ctx, Lineage{Name: n, CA: ca, Identifiers: []string{n}, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.DeleteLineage(ctx, ca, "a.test"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.test", "b.test", "never.test"} {
		if err := c.RemoveEmptyDir(ctx, ca, n); err != nil {
			t.Errorf("RemoveEmptyDir(%s) = %v", n, err)
		}
	}
	root := filepath.Join(d.Root(), "certificates", "ca.test_dir")
	if _, err := os.Lstat(filepath.Join(root, "a.test")); !os.IsNotExist(err) {
		t.Errorf("the empty directory of a.test stayed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "b.test", "lineage.json")); err != nil {
		t.Errorf("b.test's lineage record: %v", err)
	}
}
