package manager_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stormSampler tells where the manager's renewals spend their wall time:
// every interval it takes a goroutine profile and counts the goroutines
// inside a renewal attempt (manager.(*Manager).attempt) by what they are
// doing (fsync, another system call, other) and the first
// functions of certkeeper on their stack. A CPU profile misses the time
// spent waiting for the disk or the CA; this sees it.
type stormSampler struct {
	counts  map[string]int
	total   int
	samples int
}

// run samples until ctx is done.
func (s *stormSampler) run(ctx context.Context, every time.Duration) {
	s.counts = map[string]int{}
	t := time.NewTicker(every)
	defer t.Stop()
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		buf.Reset()
		pprof.Lookup("goroutine").WriteTo(&buf, 1)
		s.samples++
		s.add(buf.String())
	}
}

var (
	stackCount = regexp.MustCompile(`^(\d+) @`)
	frameFunc  = regexp.MustCompile(`^#\s+0x[0-9a-f]+\s+(\S+)`)
)

// add counts the attempts of one goroutine profile (debug=1 form).
func (s *stormSampler) add(profile string) {
	for _, block := range strings.Split(profile, "\n\n") {
		block = strings.TrimSpace(block)
		m := stackCount.FindStringSubmatch(block)
		if m == nil || !strings.Contains(block, "manager.(*Manager).attempt") {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		var frames []string
		for _, l := range strings.Split(block, "\n") {
			if f := frameFunc.FindStringSubmatch(l); f != nil {
				frames = append(frames, f[1])
			}
		}
		s.counts[stackLabel(frames)] += n
		s.total += n
	}
}

// stackLabel names what a goroutine does: fsync, another system call or
// other (running, or waiting: for a reply, a poll interval, a lock), then
// up to three certkeeper functions, innermost first.
func stackLabel(frames []string) string {
	kind := "other"
	for i, f := range frames[:min(len(frames), 6)] {
		if strings.Contains(f, "Fsync") || strings.Contains(f, "Fdatasync") {
			kind = "fsync"
			break
		}
		if i == 0 && (strings.HasPrefix(f, "internal/runtime/syscall") || strings.HasPrefix(f, "syscall.")) {
			kind = "syscall"
		}
	}
	var ck []string
	for _, f := range frames {
		if !strings.Contains(f, "certkeeper/certkeeper/") {
			continue
		}
		f = f[strings.LastIndex(f, "/")+1:]
		if i := strings.LastIndex(f, "+"); i >= 0 {
			f = f[:i]
		}
		ck = append(ck, f)
		if len(ck) == 3 {
			break
		}
	}
	return kind + ": " + strings.Join(ck, " < ")
}

// report returns the top labels, each with its share of the goroutine
// samples taken inside attempts.
func (s *stormSampler) report(top int) string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	kinds := map[string]int{}
	for k, v := range s.counts {
		all = append(all, kv{k, v})
		kind, _, _ := strings.Cut(k, ":")
		kinds[kind] += v
	}
	slices.SortFunc(all, func(a, b kv) int { return cmp.Compare(b.v, a.v) })
	var b strings.Builder
	fmt.Fprintf(&b, "%d samples, %d attempt stacks (mean %.1f attempts in flight):", s.samples, s.total, float64(s.total)/float64(max(s.samples, 1)))
	for _, k := range []string{"fsync", "syscall", "other"} {
		fmt.Fprintf(&b, " %s %.0f%%", k, 100*float64(kinds[k])/float64(max(s.total, 1)))
	}
	for _, e := range all[:min(top, len(all))] {
		fmt.Fprintf(&b, "\n\t%5.1f%% %s", 100*float64(e.v)/float64(max(s.total, 1)), e.k)
	}
	return b.String()
}

// cpuTicks is the CPU time (user and system, in clock ticks of 10 ms)
// used so far by this process and by the Pebble processes it started,
// from /proc (zeros where there is none): what a certificate costs on a
// machine of two cores that the client and the CA share.
func cpuTicks() (self, pebble int64) {
	self = procTicks("self")
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, pid := range strings.Fields(string(data)) {
			if comm, err := os.ReadFile("/proc/" + pid + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "pebble" {
				pebble += procTicks(pid)
			}
		}
	}
	return self, pebble
}

// procTicks reads utime + stime of /proc/<pid>/stat.
func procTicks(pid string) int64 {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The command, in parentheses, may hold spaces: fields are counted
	// after its closing one (state is field 3).
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

// cpuPerCert formats the CPU used between two cpuTicks readings, per
// certificate, in milliseconds (ticks of 10 ms).
func cpuPerCert(self0, peb0, self1, peb1 int64, n int) certCPU {
	return certCPU{self: float64(self1-self0) * 10 / float64(n), pebble: float64(peb1-peb0) * 10 / float64(n)}
}

// certCPU is the CPU time one certificate cost, in milliseconds: this
// process's and Pebble's.
type certCPU struct{ self, pebble float64 }

func (c certCPU) String() string {
	return fmt.Sprintf("CPU per certificate: this process %.1f ms, Pebble %.1f ms", c.self, c.pebble)
}

// total is both, what a certificate costs the machine.
func (c certCPU) total() float64 { return c.self + c.pebble }
