package store

import (
	"os"
	"path/filepath"
	"testing"
)

// A tree's sub, with openat2 and through os.Root (kernels without it,
// other systems): files made, renamed and synced in the directory opened,
// nothing reached outside it.
func TestTreeSub(t *testing.T) {
	for _, via := range []string{"openat2", "os.Root"} {
		t.Run(via, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o700); err != nil {
				t.Fatal(err)
			}
			r, err := openTree(root)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if via == "os.Root" {
				r.sys.close()
				r.sys = nil
			}
			st, err := r.sub(filepath.Join("a", "b"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			tmp, f, err := createTemp(st, ".", "x.pem")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if err := st.Rename(tmp, "x.pem"); err != nil {
				t.Fatal(err)
			}
			if err := syncDir(st, "."); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(filepath.Join(root, "a", "b", "x.pem")); err != nil || string(b) != "x" {
				t.Errorf("a/b/x.pem = %q, %v", b, err)
			}
			if _, err := st.Stat(filepath.Join("..", "b", "x.pem")); err == nil {
				t.Error("a name above the sub-tree resolved")
			}
			if _, err := r.sub("missing"); err == nil {
				t.Error("sub of a missing directory opened")
			}
		})
	}
}
