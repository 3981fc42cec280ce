//go:build linux

package exechook_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/exechook"
)

// Abort ends a hook still running, with the programs it started, though
// the context it runs with goes on.
func TestAbortEndsRunningHooks(t *testing.T) {
	dir := t.TempDir()
	child := filepath.Join(dir, "child.pid")
	abort, stop := context.WithCancel(t.Context())
	r := &exechook.Runner{Env: []string{"PATH=" + os.Getenv("PATH")}, Abort: abort}
	done := make(chan error, 1)
	go func() {
		done <- r.RunHook(context.WithoutCancel(t.Context()), manager.HookRun{
			Hook:   manager.Hook{Command: "/bin/sh", Args: []string{"-c", "sleep 60 & echo $! > " + child + "; wait"}},
			Output: &bytes.Buffer{},
		})
	}()
	var pid int
	for pid == 0 {
		if b, err := os.ReadFile(child); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		runtime.Gosched()
	}
	stop()
	if err := <-done; err == nil {
		t.Error("an aborted hook succeeded")
	}
	for deadline := time.Now().Add(5 * time.Second); running(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("the hook's child %d outlived the abort", pid)
		}
		runtime.Gosched()
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
