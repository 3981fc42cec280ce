package acmetest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// A build, stock or patched, waits for the lock another process (here:
// another open file description) holds, and gives up with the context's
// error, building nothing.
func TestBuildPebbleWaitsForLock(t *testing.T) {
	for _, c := range []struct {
		sub   string
		build func(ctx context.Context, dir string) (string, error)
	}{
		{PebbleVersion, BuildPebble},
		{PebbleVersion + "-x", func(ctx context.Context, dir string) (string, error) {
			return BuildPatchedPebble(ctx, dir, "x", testPatch)
		}},
	} {
		dir := t.TempDir()
		vdir := filepath.Join(dir, c.sub)
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			t.Fatal(err)
		}
		unlock, err := lockFile(context.Background(), filepath.Join(vdir, "build.lock"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.build(ctx, dir); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: build while the lock is held = %v, want context.Canceled", c.sub, err)
		}
		if _, err := os.Stat(filepath.Join(vdir, exeName("pebble"))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a binary appeared without the lock: %v", c.sub, err)
		}
		unlock()
	}
}

// Concurrent callers over a fresh directory whose binary is not Pebble all
// get the same, real Pebble of PebbleVersion; no build leftovers remain.
func TestBuildPebbleConcurrent(t *testing.T) {
	dir := t.TempDir()
	vdir := filepath.Join(dir, PebbleVersion)
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(vdir, exeName("pebble"))
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho not pebble\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 3
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { paths[i], errs[i] = BuildPebble(t.Context(), dir) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if paths[i] != bin {
			t.Errorf("caller %d got %q, want %q", i, paths[i], bin)
		}
	}
	if !pebbleBinaryOK(bin) {
		t.Fatalf("%s is not pebble %s", bin, PebbleVersion)
	}
	entries, err := os.ReadDir(vdir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != exeName("pebble") && e.Name() != "build.lock" {
			t.Errorf("leftover in the cache: %s", e.Name())
		}
	}
	// A later call reuses the binary as it is.
	before, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := BuildPebble(t.Context(), dir); err != nil || p != bin {
		t.Fatalf("second BuildPebble = %q, %v", p, err)
	}
	after, err := os.Stat(bin)
	if err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the cached binary was replaced: %v", err)
	}
}

// FindPebble needs nothing from the caller's go.mod: it returns the pinned
// Pebble with AuthzReuseFix from the user's cache, building it there if
// needed.
func TestFindPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("integration tier (builds Pebble with the go command): skipped under -short")
	}
	bin, err := FindPebble(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(PebbleCacheDir(), PebbleVersion+"-authzreuse-exact", exeName("pebble")); bin != want {
		t.Errorf("FindPebble = %q, want %q", bin, want)
	}
	if !patchedPebbleOK(bin, patchedReplacement("authzreuse-exact", []PebblePatch{AuthzReuseFix})) {
		t.Errorf("%s is not pebble %s with AuthzReuseFix", bin, PebbleVersion)
	}
}
