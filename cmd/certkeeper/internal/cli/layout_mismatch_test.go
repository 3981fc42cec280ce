package cli

import (
	"fmt"
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

// The daemon's file, whose layout is "standard" unless it says
// otherwise, over a store in the shared layout (or the other way round)
// is refused by run -check and at start, naming the key layout; nothing
// is written into the store.
func TestDaemonLayoutOtherThanTheStores(t *testing.T) {
	t.Parallel()
	shared := t.TempDir()
	if err := os.WriteFile(filepath.Join(shared, "client.key"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	standard := t.TempDir()
	if err := os.MkdirAll(filepath.Join(standard, "accounts", "ca", "default"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(standard, "accounts", "ca", "default", "account.key"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, layout, want string }{
		{shared, "", `write layout = "shared"`},
		{standard, `layout = "shared"` + "\n", `write layout = "standard"`},
	} {
		path := writeConfig(t, fmt.Sprintf("ca = \"https://127.0.0.1:1/dir\"\nstore = %q\n%s[solvers]\nhttp-webroot = %q\n[[certificate]]\ndomains = [\"a.example.test\"]\n",
			tc.dir, tc.layout, t.TempDir()))
		if code, out := runCheck(t, path); code != ExitUsage || !strings.Contains(out, "layout: the store "+tc.dir) || !strings.Contains(out, tc.want) {
			t.Errorf("run -check, store %s: exit %d, output %s; want exit %d naming layout and %s", tc.dir, code, out, ExitUsage, tc.want)
		}
		r := runCLI(t.Context(), "run", "-config", path)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("run, store %s: exit %d, stderr %s; want exit %d and %s", tc.dir, r.code, r.stderr, ExitUsage, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(shared, "accounts")); err == nil {
		t.Errorf("the daemon wrote accounts/ into a shared store")
	}
	if _, err := os.Stat(filepath.Join(standard, "client.key")); err == nil {
		t.Errorf("the daemon wrote client.key into a standard store")
	}
}
