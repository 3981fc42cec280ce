package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binOut  []byte
)

// certkeeperBinary builds cmd/certkeeper once for the tests that send it
// signals.
func certkeeperBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "certkeeper-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "certkeeper")
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		cmd := exec.Command(gobin, "build", "-o", binPath, "github.com/certkeeper/certkeeper/cmd/certkeeper")
		binOut, binErr = cmd.CombinedOutput()
	})
	if binErr != nil {
		t.Fatalf("building certkeeper: %v\n%s", binErr, binOut)
	}
	return binPath
}

// startHangingCleanup starts "certkeeper obtain" with an exec DNS program
// whose cleanup never ends, and returns once the challenge is presented.
func startHangingCleanup(t *testing.T) (cmd *exec.Cmd, stderr *syncBuffer, dir string) {
	bin := certkeeperBinary(t)
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	dir = t.TempDir()
	script := filepath.Join(dir, "dns.sh")
	body := "#!/bin/sh\ncase \"$1\" in\npresent) echo ok > " + dir + "/present ;;\ncleanup) echo $$ > " + dir + "/cleanup.tmp; mv " + dir + "/cleanup.tmp " + dir + "/cleanup.pid; exec sleep 1000 ;;\nesac\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The program the command gave up on.
		if b, err := os.ReadFile(filepath.Join(dir, "cleanup.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	cmd = exec.Command(bin, "obtain", "-ca", e.pebble.DirectoryURL, "-ca-root", e.root, "-store", e.store, "-email", "admin@example.test", "-agree-tos",
		"-dns-provider", "exec", "-dns-exec", script, "-dns-no-propagation-check", "-dns-zone", "example.test", "-dns-delay", "10m", "int.example.test")
	stderr = &syncBuffer{}
	cmd.Stderr, cmd.Stdout = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFile(t, filepath.Join(dir, "present"), stderr)
	return cmd, stderr, dir
}

// waitFile polls for path (written by the DNS program).
func waitFile(t *testing.T, path string, stderr *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared:\n%s", filepath.Base(path), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitExit waits for cmd and returns its exit code and how long it took.
func waitExit(t *testing.T, cmd *exec.Cmd, stderr *syncBuffer) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("certkeeper did not exit:\n%s", stderr.String())
	}
	return cmd.ProcessState.ExitCode(), time.Since(start)
}

// Ctrl-C while the clean-up program hangs: certkeeper says what it is
// cleaning up, gives it a few seconds (not the 30 s of the library's
// bound), names what may be left behind, and exits 130.
func TestInterruptHangingCleanupBounded(t *testing.T) {
	t.Parallel()
	cmd, stderr, dir := startHangingCleanup(t)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code, took := waitExit(t, cmd, stderr)
	if code != ExitInterrupted {
		t.Errorf("exit %d, want %d:\n%s", code, ExitInterrupted, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "cleanup.pid")); err != nil {
		t.Errorf("the clean-up program never ran:\n%s", stderr.String())
	}
	if took > interruptGrace+10*time.Second {
		t.Errorf("exited %v after the interrupt, want about %v", took, interruptGrace)
	}
	for _, want := range []string{
		"certkeeper: interrupted: cleaning up dns-01: removing TXT _acme-challenge.int.example.test. (",
		"Ctrl-C again to quit at once",
		"clean-up did not finish within 5s; exiting without it, so these may be left behind: dns-01: removing TXT _acme-challenge.int.example.test.",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// A second Ctrl-C exits at once, 130.
func TestInterruptTwiceExitsAtOnce(t *testing.T) {
	t.Parallel()
	cmd, stderr, dir := startHangingCleanup(t)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, "cleanup.pid"), stderr)
	// Ctrl-C again, as a person does until the program ends (one
	// interrupt right after the first is taken for a duplicate of it).
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	code, took := waitExit(t, cmd, stderr)
	if code != ExitInterrupted {
		t.Errorf("exit %d, want %d:\n%s", code, ExitInterrupted, stderr.String())
	}
	if took >= interruptGrace {
		t.Errorf("exited %v after the second interrupt: it waited for the clean-up", took)
	}
	if !strings.Contains(stderr.String(), "interrupted again: exiting at once") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

// One interrupt delivered twice at once, as "timeout -s INT" does (to the
// command, then to its process group), is one: the command cleans up.
func TestInterruptDeliveredTwiceCleansUp(t *testing.T) {
	t.Parallel()
	cmd, stderr, dir := startHangingCleanup(t)
	for range 2 {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
	}
	code, _ := waitExit(t, cmd, stderr)
	if _, err := os.Stat(filepath.Join(dir, "cleanup.pid")); err != nil {
		t.Errorf("the clean-up never ran: %v", err)
	}
	if code != ExitInterrupted {
		t.Errorf("exit %d, want %d:\n%s", code, ExitInterrupted, stderr.String())
	}
	if strings.Contains(stderr.String(), "interrupted again") || !strings.Contains(stderr.String(), "interrupted: cleaning up") {
		t.Errorf("two signals at once were taken for two interrupts:\n%s", stderr.String())
	}
}

// Ctrl-C during "renew": one line saying so and exit 130, as for
// obtain, not "NAME: context canceled" and "1 of 1 certificates failed
// to renew" with the exit code of a failed renewal.
func TestInterruptRenew(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	bin := certkeeperBinary(t)
	e.must(append(append([]string{"obtain"}, e.caFlags()...), "-store", e.store, "-email", "admin@example.test", "-agree-tos",
		"-http-listen", e.httpAddr(), "ren.example.test")...)
	dir := t.TempDir()
	script := filepath.Join(dir, "dns.sh")
	body := "#!/bin/sh\ncase \"$1\" in\npresent) echo ok > " + dir + "/present ;;\nesac\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	// Pebble reuses a valid authorization now and then even when told
	// never to (PEBBLE_AUTHZREUSE=0: rand.Intn(100) > 0 is false one
	// time in 100); the renewal then needs no challenge and ends before
	// anything can be interrupted: renew again.
	var (
		cmd    *exec.Cmd
		stderr *syncBuffer
	)
	for try := 0; ; try++ {
		cmd = exec.Command(bin, "renew", "-force", "-store", e.store,
			"-dns-provider", "exec", "-dns-exec", script, "-dns-no-propagation-check", "-dns-zone", "example.test", "-dns-delay", "10m", "ren.example.test")
		stderr = &syncBuffer{}
		cmd.Stderr, cmd.Stdout = stderr, stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c := cmd
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
		if waitPresentOrRenewed(t, filepath.Join(dir, "present"), stderr) {
			break
		}
		if code, _ := waitExit(t, cmd, stderr); code != 0 || try == 2 {
			t.Fatalf("renew without a challenge (try %d): exit %d:\n%s", try+1, code, stderr.String())
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code, _ := waitExit(t, cmd, stderr)
	out := stderr.String()
	if code != ExitInterrupted || !strings.Contains(out, "certkeeper renew: interrupted") ||
		strings.Contains(out, "certkeeper renew: ren.example.test") || strings.Contains(out, "failed to renew") || strings.Contains(out, "nothing to renew") {
		t.Errorf("exit %d, want %d, one line saying it was interrupted:\n%s", code, ExitInterrupted, out)
	}
}

// waitPresentOrRenewed waits for the file present (the DNS hook was
// asked to present a challenge: true) or for the command to say it
// renewed (false: the order needed no challenge).
func waitPresentOrRenewed(t *testing.T, present string, stderr *syncBuffer) bool {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(present); err == nil {
			return true
		}
		if strings.Contains(stderr.String(), "renewed ren.example.test") {
			return false
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared:\n%s", filepath.Base(present), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Ctrl-C while a deploy hook runs: certkeeper says it waits for the hook,
// and once the grace is over stops it with the programs it started (none
// outlives certkeeper), says so, and exits 130.
func TestInterruptStopsDeployHook(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	bin := certkeeperBinary(t)
	e.must(append(append([]string{"obtain"}, e.caFlags()...), "-store", e.store, "-email", "admin@example.test", "-agree-tos",
		"-http-listen", e.httpAddr(), "hookint.example.test")...)
	dir := t.TempDir()
	childPID := filepath.Join(dir, "child.pid")
	hook := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\nsleep 60 &\necho $! > "+childPID+"\nwait\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "renew", "-force", "-store", e.store, "-http-listen", e.httpAddr(), "-deploy-hook", hook, "hookint.example.test")
	stderr := &syncBuffer{}
	cmd.Stderr, cmd.Stdout = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFile(t, childPID, stderr)
	b, _ := os.ReadFile(childPID)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("child pid %q: %v", b, err)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code, _ := waitExit(t, cmd, stderr)
	out := stderr.String()
	if code != ExitInterrupted {
		t.Errorf("exit %d, want %d:\n%s", code, ExitInterrupted, out)
	}
	for _, want := range []string{
		"certkeeper: interrupted: waiting for the deploy hook " + hook + " (hookint.example.test)",
		"certkeeper: interrupted: stopped the deploy hook " + hook + " (hookint.example.test), which counts as failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); running(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("the hook's child %d outlived certkeeper:\n%s", pid, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// running reports whether process pid exists and is not a zombie (one
// reparented to an init that does not reap is dead all the same).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) state …": the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
