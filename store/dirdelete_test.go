package store

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestDeleteTreeOfAVersion: deleteTree of a version directory in a Dir
// (deleteFlat: the directory opened once) deletes what List lists there
// and removes the directory if that empties it; a temporary file (which
// List does not list) stays, and so does the directory; a directory
// holding a subdirectory or a link is deleted key by key, as before.
func TestDeleteTreeOfAVersion(t *testing.T) {
	files := []string{"cert.pem", "combined.pem", "key.pem", "meta.json"}
	for _, tc := range []struct {
		name  string
		extra func(t *testing.T, vdir string)
		flat  bool     // deleteFlat does it
		left  []string // what stays under vdir ("": vdir gone)
	}{
		{"whole", func(*testing.T, string) {}, true, nil},
		{"temporary file", func(t *testing.T, vdir string) {
			write(t, filepath.Join(vdir, ".tmp-cert.pem.0123456789abcdef"), "tmp")
		}, true, []string{".tmp-cert.pem.0123456789abcdef"}},
		{"subdirectory", func(t *testing.T, vdir string) {
			write(t, filepath.Join(vdir, "sub", "x.pem"), "x")
		}, false, nil},
		{"link", func(t *testing.T, vdir string) {
			if err := os.Symlink("cert.pem", filepath.Join(vdir, "chain.pem")); err != nil {
				t.Fatal(err)
			}
		}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDir(t)
			ctx := t.Context()
			const key = "certificates/ca.test_dir/a.test/versions/1"
			vdir := filepath.Join(d.Root(), filepath.FromSlash(key))
			for _, f := range files {
				write(t, filepath.Join(vdir, f), f)
			}
			tc.extra(t, vdir)
			if done, err := d.deleteFlat(ctx, key+"0", certFile); !done || err != nil {
				t.Errorf("deleteFlat of a missing directory = %v, %v; want done", done, err)
			}
			done, err := d.deleteFlat(ctx, key, certFile)
			if done != tc.flat || err != nil {
				t.Errorf("deleteFlat = %v, %v; want %v", done, err, tc.flat)
			}
			if !done {
				if err := (&Certs{Store: d}).deleteTree(ctx, key); err != nil {
					t.Fatal(err)
				}
			}
			des, err := os.ReadDir(vdir)
			var left []string
			for _, de := range des {
				left = append(left, de.Name())
			}
			if tc.left == nil && !os.IsNotExist(err) || tc.left != nil && !slices.Equal(left, tc.left) {
				t.Errorf("left in the version's directory: %v (%v); want %v", left, err, tc.left)
			}
			if _, err := os.Stat(filepath.Dir(vdir)); err != nil {
				t.Errorf("versions/ after deleting a version: %v", err)
			}
		})
	}
}

func write(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
