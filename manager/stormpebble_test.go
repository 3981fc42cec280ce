package manager_test

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acmetest"
)

// The storm's Pebble is acmetest.PebbleVersion with one lock-order deadlock
// removed. In db/memorystore.go, MemoryStore.FindValidAuthorization (called
// by every newOrder) holds the store's read lock while it takes each
// authorization's read lock; the authorization handler of wfe/wfe.go holds
// an authorization's write lock while it looks the account up in the store
// (a store read lock). Once any writer (AddOrder, AddAuthorization...)
// waits for the store's write lock, sync.RWMutex lets no new reader in, and
// the three wait on each other for ever: Pebble stops answering, under the
// storm's load and under the plainest client's alike. The patched
// FindValidAuthorization copies the authorization pointers under the store's
// read lock and releases it before it takes any authorization's lock; what
// it reads of each authorization, under that authorization's lock, is
// unchanged.
const (
	// stormPebbleFunc is the signature of the function patched.
	stormPebbleFunc = "func (m *MemoryStore) FindValidAuthorization(accountID string, identifier acme.Identifier) *core.Authorization {\n"
	// stormPebbleOld is how its body starts in PebbleVersion.
	stormPebbleOld = "\tm.RLock()\n" +
		"\tdefer m.RUnlock()\n" +
		"\tfor _, authz := range m.authorizationsByID {\n"
	// stormPebbleNew replaces it: the loop runs on a snapshot.
	stormPebbleNew = "\tm.RLock()\n" +
		"\tauthzs := make([]*core.Authorization, 0, len(m.authorizationsByID))\n" +
		"\tfor _, authz := range m.authorizationsByID {\n" +
		"\t\tauthzs = append(authzs, authz)\n" +
		"\t}\n" +
		"\tm.RUnlock()\n" +
		"\tfor _, authz := range authzs {\n"
	// stormPebbleSrc is the directory, relative to the build module, of
	// the patched copy of Pebble's module: the build's go.mod replaces
	// PebbleModule by it, and the binary's build information records it,
	// which is how stormPebbleOK tells the patched binary from the stock
	// one.
	stormPebbleSrc = "./pebble-findvalidauthorization-unlocked"
)

// patchStormPebble returns the text of Pebble's db/memorystore.go with
// FindValidAuthorization patched, or an error when that function does not
// start with the text of PebbleVersion exactly once: a Pebble whose code
// moved must not be built unpatched without anyone noticing.
func patchStormPebble(src string) (string, error) {
	old := stormPebbleFunc + stormPebbleOld
	if n := strings.Count(src, old); n != 1 {
		return "", fmt.Errorf("storm pebble: db/memorystore.go of %s@%s has %d copies of the FindValidAuthorization text to patch, want 1: update the patch in manager/stormpebble_test.go",
			acmetest.PebbleModule, acmetest.PebbleVersion, n)
	}
	return strings.Replace(src, old, stormPebbleFunc+stormPebbleNew, 1), nil
}

// stormPebbleDir is where stormPebble keeps its binary: next to those of
// acmetest.BuildPebble, in a directory of its own.
func stormPebbleDir() string {
	return filepath.Join(acmetest.PebbleCacheDir(), acmetest.PebbleVersion+"-storm")
}

// stormPebble returns the path of the patched Pebble, building it the
// first time on a machine (about as long as acmetest.BuildPebble: the go
// command and the module proxy, or a module cache holding Pebble and its
// dependencies). As in acmetest.BuildPebble, concurrent callers, here or in
// other processes, wait on a lock file and use the binary the first built,
// and a binary is put in place whole (built aside, then renamed). Errors
// say why there is none; no caller falls back to the stock Pebble.
func stormPebble(ctx context.Context) (string, error) {
	dir := stormPebbleDir()
	bin := filepath.Join(dir, "pebble")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	if stormPebbleOK(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("storm pebble: %w", err)
	}
	unlock, err := stormLockFile(ctx, filepath.Join(dir, "build.lock"))
	if err != nil {
		return "", fmt.Errorf("storm pebble: lock: %w", err)
	}
	defer unlock()
	if stormPebbleOK(bin) { // built by another process meanwhile
		return bin, nil
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", fmt.Errorf("storm pebble: %w", err)
	}
	defer os.RemoveAll(tmp)
	built, err := buildStormPebble(ctx, tmp)
	if err != nil {
		return "", err
	}
	if err := os.Rename(built, bin); err != nil {
		return "", fmt.Errorf("storm pebble: %w", err)
	}
	if !stormPebbleOK(bin) {
		return "", fmt.Errorf("storm pebble: %s is not the patched pebble %s after the build", bin, acmetest.PebbleVersion)
	}
	return bin, nil
}

// buildStormPebble builds the patched Pebble in the empty directory tmp
// and returns the binary's path: a module of its own (outside any
// workspace) requiring PebbleModule at PebbleVersion, replaced by a copy of
// that module from the module cache with db/memorystore.go patched. (A
// -overlay cannot do it: the go command refuses to overlay files of the
// module cache.)
func buildStormPebble(ctx context.Context, tmp string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("storm pebble: no go command to build it: %w", err)
	}
	run := func(args ...string) ([]byte, error) {
		var stdout, stderr bytes.Buffer
		c := exec.CommandContext(ctx, goCmd, args...)
		c.Dir = tmp
		c.Env = append(c.Environ(), "GOWORK=off")
		c.Stdout, c.Stderr = &stdout, &stderr
		if err := c.Run(); err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("storm pebble: go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return stdout.Bytes(), nil
	}
	gomod := filepath.Join(tmp, "go.mod")
	if err := os.WriteFile(gomod, []byte("module stormpebble\n\ngo 1.24\n"), 0o644); err != nil {
		return "", fmt.Errorf("storm pebble: %w", err)
	}
	out, err := run("mod", "download", "-json", acmetest.PebbleModule+"@"+acmetest.PebbleVersion)
	if err != nil {
		return "", err
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("storm pebble: go mod download: no module directory (%v %s)", err, mod.Error)
	}
	src := filepath.Join(tmp, filepath.FromSlash(stormPebbleSrc))
	if err := os.CopyFS(src, os.DirFS(mod.Dir)); err != nil {
		return "", fmt.Errorf("storm pebble: copying %s: %w", mod.Dir, err)
	}
	file := filepath.Join(src, "db", "memorystore.go")
	text, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("storm pebble: %w", err)
	}
	patched, err := patchStormPebble(string(text))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(file, []byte(patched), 0o644); err != nil {
		return "", fmt.Errorf("storm pebble: %w", err)
	}
	modText := fmt.Sprintf("module stormpebble\n\ngo 1.24\n\nrequire %s %s\n\nreplace %[1]s => %[3]s\n",
		acmetest.PebbleModule, acmetest.PebbleVersion, stormPebbleSrc)
	if err := os.WriteFile(gomod, []byte(modText), 0o644); err != nil {
		return "", fmt.Errorf("storm pebble: %w", err)
	}
	bin := filepath.Join(tmp, "pebble-built")
	// -mod=mod: the build module's go.sum is filled from the module
	// cache or the proxy (checked against the checksum database as
	// usual).
	if _, err := run("build", "-mod=mod", "-o", bin, acmetest.PebbleModule+"/cmd/pebble"); err != nil {
		return "", err
	}
	return bin, nil
}

// stormPebbleOK reports whether path is a pebble built by buildStormPebble
// from PebbleModule at PebbleVersion.
func stormPebbleOK(path string) bool {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return false
	}
	m := info.Main
	return info.Path == acmetest.PebbleModule+"/cmd/pebble" &&
		m.Path == acmetest.PebbleModule && m.Version == acmetest.PebbleVersion &&
		m.Replace != nil && m.Replace.Path == stormPebbleSrc
}

// BenchmarkPebbleLockOrder shows the deadlock that stormPebble removes:
// the ceiling client of BenchmarkRenewalStorm issues -storm.n certificates
// at concurrency -storm.c (0: 64) from the stock Pebble, then from the
// patched one, each new. The stock one stopping (no certificate for a
// minute) is logged, not an error; the patched one stopping fails the run.
//
//	go test -run '^$' -bench PebbleLockOrder -benchtime 1x ./manager/ -storm.n 2000
func BenchmarkPebbleLockOrder(b *testing.B) {
	ctx := context.Background()
	conc := *stormConc
	if conc == 0 {
		conc = 64
	}
	for _, v := range []struct {
		name  string
		build func(context.Context) (string, error)
	}{{"stock", acmetest.FindPebble}, {"patched", stormPebble}} {
		b.Run(v.name, func(b *testing.B) {
			bin, err := v.build(ctx)
			if err != nil {
				b.Fatal(err)
			}
			var stopped int
			for b.Loop() {
				ca := newStormCA(b, bin)
				rate, err := ceilingRun(ctx, ca.client, ca.acct, ca.sol, *stormN, conc, v.name)
				switch {
				case err == nil:
					b.Logf("%s pebble: %d certificates at concurrency %d: %.1f certificates/s", v.name, *stormN, conc, rate)
				case v.name == "stock":
					stopped++
					b.Logf("stock pebble stopped, as expected: %v", err)
				default:
					b.Fatalf("patched pebble: %v", err)
				}
			}
			b.ReportMetric(float64(stopped), "stopped")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// TestPatchStormPebble checks the patch: applied where the text is that of
// PebbleVersion, refused where it is missing or not alone.
func TestPatchStormPebble(t *testing.T) {
	orig := "package db\n\n" + stormPebbleFunc + stormPebbleOld +
		"\t\tauthz.RLock()\n\t\tauthz.RUnlock()\n\t}\n\treturn nil\n}\n"
	got, err := patchStormPebble(orig)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "defer m.RUnlock()") || !strings.Contains(got, stormPebbleFunc+stormPebbleNew) {
		t.Errorf("patched:\n%s", got)
	}
	if !strings.HasSuffix(got, "\t\tauthz.RLock()\n\t\tauthz.RUnlock()\n\t}\n\treturn nil\n}\n") {
		t.Errorf("the rest of the function changed:\n%s", got)
	}
	for name, src := range map[string]string{
		"moved":  strings.Replace(orig, "defer m.RUnlock()", "defer func() { m.RUnlock() }()", 1),
		"twice":  orig + orig,
		"absent": "package db\n",
	} {
		if _, err := patchStormPebble(src); err == nil {
			t.Errorf("%s: patched without error", name)
		}
	}
}
