package store

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeLockFile writes the lock file of name in d as a holder described
// by li would have.
func writeLockFile(t *testing.T, d *Dir, name string, li lockInfo) {
	t.Helper()
	p := filepath.Join(d.root, lockPath(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	li.Name, li.Acquired, li.Token = name, time.Now().UTC(), "someone-else"
	data, _ := json.Marshal(li)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A lock whose holder is known to be dead is taken over at once; one
// whose holder may live is not.
func TestTryLockDeadHolder(t *testing.T) {
	me := selfProcess()
	if me == nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("this system does not tell processes apart (/proc): the dead-holder takeover cannot be checked")
		}
		t.Skip("this system does not tell processes apart (/proc)")
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	// A pid that no longer names the process it did.
	child := exec.Command("true")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	dead := child.Process.Pid
	for _, tc := range []struct {
		what string
		li   lockInfo
		busy bool
	}{
		{"a dead process", lockInfo{PID: dead, Host: host, Process: &processID{Boot: me.Boot, PIDNS: me.PIDNS, Start: "1"}}, false},
		{"a process of an earlier boot", lockInfo{PID: os.Getpid(), Host: host, Process: &processID{Boot: "another-boot", PIDNS: me.PIDNS, Start: me.Start}}, false},
		{"this process", lockInfo{PID: os.Getpid(), Host: host, Process: me}, true},
		{"another host", lockInfo{PID: dead, Host: host + "-other", Process: &processID{Boot: me.Boot, PIDNS: me.PIDNS, Start: "1"}}, true},
		{"another pid namespace", lockInfo{PID: dead, Host: host, Process: &processID{Boot: me.Boot, PIDNS: "pid:[1]", Start: "1"}}, true},
		{"a holder that did not say", lockInfo{PID: dead, Host: host}, true},
	} {
		t.Run(tc.what, func(t *testing.T) {
			d, err := NewDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			writeLockFile(t, d, "daemon", tc.li)
			unlock, err := d.TryLock(t.Context(), "daemon")
			switch {
			case tc.busy && !errors.Is(err, ErrLockBusy):
				t.Errorf("TryLock: %v, want ErrLockBusy", err)
			case !tc.busy && err != nil:
				t.Errorf("TryLock: %v, want the lock taken over", err)
			}
			if err == nil {
				if err := unlock(); err != nil {
					t.Errorf("unlock: %v", err)
				}
			}
		})
	}
}

// A lock held in this process is busy for a second TryLock, which names
// the holder.
func TestTryLockBusyNamesHolder(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := d.TryLock(t.Context(), "daemon")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = d.TryLock(t.Context(), "daemon")
	if !errors.Is(err, ErrLockBusy) {
		t.Fatalf("second TryLock: %v, want ErrLockBusy", err)
	}
	if want := "pid " + strconv.Itoa(os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("second TryLock: %v, want it to name %s", err, want)
	}
}
