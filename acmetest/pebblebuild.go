package acmetest

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// PebbleModule and PebbleVersion name the Pebble release that FindPebble
// builds: the version acmetest is tested against. It is not a requirement
// of any certkeeper go.mod, so it never enters a user's module graph.
const (
	PebbleModule  = "github.com/letsencrypt/pebble/v2"
	PebbleVersion = "v2.10.1"
)

// pebblePackage is the main package of the pebble command.
const pebblePackage = PebbleModule + "/cmd/pebble"

// ErrNoGo is returned (wrapped) by FindPebble and BuildPebble when there is
// no go command on PATH to build Pebble with; set PebbleOptions.Binary to an
// installed pebble instead.
var ErrNoGo = errors.New("acmetest: no go command to build pebble")

// PebbleCacheDir returns the directory where FindPebble keeps the Pebble
// binaries it builds: certkeeper-acmetest/pebble under os.UserCacheDir, or
// under os.TempDir when the system has no user cache directory.
func PebbleCacheDir() string {
	base, err := os.UserCacheDir()
	if err != nil || base == "" {
		base = os.TempDir()
	}
	return filepath.Join(base, "certkeeper-acmetest", "pebble")
}

// FindPebble returns the path of the pebble binary StartPebble runs when
// PebbleOptions.Binary is empty: PebbleVersion with AuthzReuseFix, built
// with BuildPatchedPebble into PebbleCacheDir. It works from any module
// (the caller's go.mod needs no tool line); the first call on a machine
// needs the go command and the module proxy (or a module cache holding
// Pebble) and takes about half a minute; later calls, from any process,
// reuse the binary.
func FindPebble(ctx context.Context) (string, error) {
	return buildTestPebble(ctx, PebbleCacheDir())
}

// AuthzReuseFix makes PEBBLE_AUTHZREUSE a true percentage: Pebble's
// newOrder keeps a valid authorization unless rand.Intn(100) >
// percent, so at 0 it still reuses one in a hundred (when Intn gives 0),
// and a test that needs a challenge in a second order for the same name
// failed one run in a hundred. Patched to >=, 0 never reuses and 100
// always does. StartPebble's Pebble has it (see FindPebble).
var AuthzReuseFix = PebblePatch{
	File: "wfe/wfe.go",
	Old:  "rand.Intn(100) > wfe.authzReusePercent",
	New:  "rand.Intn(100) >= wfe.authzReusePercent",
}

// buildTestPebble builds, or finds, the Pebble FindPebble returns under
// dir.
func buildTestPebble(ctx context.Context, dir string) (string, error) {
	return BuildPatchedPebble(ctx, dir, "authzreuse-exact", AuthzReuseFix)
}

// BuildPebble returns the path of a pebble binary of PebbleVersion under
// dir, building it first with
//
//	go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1
//
// when dir has none. The build runs once: concurrent callers, in this
// process or in others (parallel test binaries), wait on a lock file in dir
// and then use the binary the first one built. A binary is only ever put in
// place whole (built aside, then renamed), and one whose embedded build
// information is not PebbleVersion is rebuilt. The build is bounded by ctx
// only. Errors wrap ErrNoGo when there is no go command, and otherwise
// carry the go command's output.
func BuildPebble(ctx context.Context, dir string) (string, error) {
	if dir == "" {
		return "", errors.New("acmetest: BuildPebble: empty directory")
	}
	bin, err := buildCached(ctx, filepath.Join(dir, PebbleVersion), pebbleBinaryOK,
		"pebble "+PebbleVersion, func(goCmd, tmp string) (string, error) {
			// GOBIN: where it installs; the go command's own
			// environment (GOPATH, GOPROXY, GOCACHE...) is passed
			// through unread.
			_, err := runGo(ctx, goCmd, tmp, []string{"GOBIN=" + tmp},
				"install", pebblePackage+"@"+PebbleVersion)
			return filepath.Join(tmp, exeName("pebble")), err
		})
	if errors.Is(err, ErrNoGo) {
		err = fmt.Errorf("%w; install it with `go install %s@%s` and set PebbleOptions.Binary",
			err, pebblePackage, PebbleVersion)
	}
	return bin, err
}

// buildCached returns the path of the binary named pebble in vdir, which
// ok accepts, building it with build first when there is none that ok
// accepts. The build runs once: concurrent callers, in this process or in
// others, wait on vdir/build.lock (bounded by ctx) and then use the binary
// the first one built. build gets the go command's path and an empty
// directory of its own inside vdir, removed afterwards, and returns the
// path of the binary it made there, which is then renamed into place
// whole. what names the binary in the error when ok refuses the result.
// Errors wrap ErrNoGo when there is no go command.
func buildCached(ctx context.Context, vdir string, ok func(path string) bool, what string,
	build func(goCmd, tmp string) (string, error)) (string, error) {
	bin := filepath.Join(vdir, exeName("pebble"))
	if ok(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return "", fmt.Errorf("acmetest: pebble cache: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(vdir, "build.lock"))
	if err != nil {
		return "", fmt.Errorf("acmetest: pebble cache lock: %w", err)
	}
	defer unlock()
	// Another process may have built it while this one waited.
	if ok(bin) {
		return bin, nil
	}

	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("%w (%v)", ErrNoGo, err)
	}
	tmp, err := os.MkdirTemp(vdir, "build-")
	if err != nil {
		return "", fmt.Errorf("acmetest: pebble cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	built, err := build(goCmd, tmp)
	if err != nil {
		return "", err
	}
	if err := os.Rename(built, bin); err != nil {
		return "", fmt.Errorf("acmetest: pebble cache: %w", err)
	}
	if !ok(bin) {
		return "", fmt.Errorf("acmetest: %s is not %s after the build", bin, what)
	}
	return bin, nil
}

// runGo runs the go command at goCmd with args in dir, outside any module
// or workspace of the caller (GOWORK=off), with env added to its
// environment, and returns its standard output. Its error carries the
// command's error output, or ctx's error when ctx ended the command.
func runGo(ctx context.Context, goCmd, dir string, env []string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	c := exec.CommandContext(ctx, goCmd, args...)
	c.Dir = dir
	c.Env = append(append(c.Environ(), "GOWORK=off"), env...)
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("acmetest: go %s: %w: %s", strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()+"\n"+stdout.String()))
	}
	return stdout.Bytes(), nil
}

// pebbleBinaryOK reports whether path is an executable pebble built from
// PebbleModule at PebbleVersion, unpatched (not one of BuildPatchedPebble's,
// whose module is replaced).
func pebbleBinaryOK(path string) bool {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return false
	}
	return info.Main.Path == PebbleModule && info.Main.Version == PebbleVersion &&
		info.Main.Replace == nil && info.Path == pebblePackage
}

func exeName(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}
