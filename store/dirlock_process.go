package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// processID tells one process from another that later gets the same pid:
// the boot it runs in, its pid namespace and its start time, as Linux's
// /proc tells them.
type processID struct {
	Boot  string `json:"boot"`
	PIDNS string `json:"pidns"`
	Start string `json:"start"`
}

// selfProcess identifies this process; nil where /proc does not tell.
func selfProcess() *processID {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return nil
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return nil
	}
	start, err := processStart(os.Getpid())
	if err != nil {
		return nil
	}
	return &processID{Boot: string(bytes.TrimSpace(boot)), PIDNS: ns, Start: start}
}

// processStart returns the start time of the process pid (field 22 of
// /proc/PID/stat, in clock ticks since boot). A process that does not
// exist, or has ended and awaits its parent (a zombie), gives an error
// wrapping fs.ErrNotExist.
func processStart(pid int) (string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	// The command name, field 2, is in parentheses and may hold spaces
	// and parentheses: the fields that follow come after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return "", errors.New("store: unexpected /proc stat format")
	}
	fields := strings.Fields(string(data[i+1:]))
	const startField = 22 - 3 // fields after ')' begin with field 3
	if len(fields) <= startField {
		return "", errors.New("store: unexpected /proc stat format")
	}
	if st := fields[0]; st == "Z" || st == "X" || st == "x" {
		return "", fmt.Errorf("store: process %d has ended: %w", pid, fs.ErrNotExist)
	}
	return fields[startField], nil
}

// holderGone reports whether the holder of a lock, as its lock file
// describes it, is known to have died: a process of this host (same host
// name) and pid namespace, of an earlier boot, or whose pid now names no
// process or another one. Whenever it cannot tell (another host, another
// pid namespace, a system without /proc, a lock file without Process),
// it reports false and the lock is left to StaleLockAfter.
func holderGone(li lockInfo) bool {
	if li.Process == nil || li.PID <= 0 {
		return false
	}
	host, err := os.Hostname()
	if err != nil || host != li.Host {
		return false
	}
	me := selfProcess()
	if me == nil || li.Process.Boot == "" || li.Process.Start == "" {
		return false
	}
	if li.Process.Boot != me.Boot {
		return true // the host was restarted since
	}
	if li.Process.PIDNS != me.PIDNS {
		return false // its pids are not ours to look at
	}
	start, err := processStart(li.PID)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	return err == nil && start != li.Process.Start
}
