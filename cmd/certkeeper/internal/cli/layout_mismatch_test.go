package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A -layout naming the other layout than the store's is a usage error,
// before anything is written or sent: written, the certificates of one
// layout would be hidden from every later command, which reads the store
// in the layout it detects.
func TestLayoutOtherThanTheStores(t *testing.T) {
	t.Parallel()
	standard := t.TempDir()
	acct := filepath.Join(standard, "accounts", "127.0.0.1-1_dir", "default")
	if err := os.MkdirAll(acct, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(acct, "account.key"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	shared := t.TempDir()
	if err := os.WriteFile(filepath.Join(shared, "client.key"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"obtain", "-store", standard, "-layout", "shared", "-ca", "https://127.0.0.1:1/dir", "-agree-tos", "-http-listen", "127.0.0.1:0", "x.example.test"},
		{"list", "-store", standard, "-layout", "shared"},
		{"obtain", "-store", shared, "-layout", "standard", "-ca", "https://127.0.0.1:1/dir", "-agree-tos", "-http-listen", "127.0.0.1:0", "x.example.test"},
		{"list", "-store", shared, "-layout", "standard"},
	} {
		r := runCLI(t.Context(), args...)
		if r.code != 2 || !strings.Contains(r.stderr, "-layout ") || !strings.Contains(r.stderr, "the store is in the other layout") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 naming -layout and the store's layout", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(standard, "client.key")); err == nil {
		t.Errorf("obtain -layout shared wrote client.key into a standard store")
	}
	if _, err := os.Stat(filepath.Join(shared, "certificates")); err == nil {
		t.Errorf("obtain -layout standard wrote certificates/ into a shared store")
	}
}
