// Command ckchild runs one benchmark scenario for one client against a
// Pebble that ckbench started, and prints the result as JSON. ckbench
// builds it once per client, with a build tag that links only that client
// (kind_*.go), so that the process's peak memory is that client's, and the
// tag ckchild, which leaves bench.StartEnv (and acmetest, the testing
// package, miekg/dns) out of the binary; with CGO_ENABLED=0 unless
// ckbench is given -cgo:
//
//	CGO_ENABLED=0 go build -tags ckchild,ckchild_certkeeper ./cmd/ckchild   # or ckchild_xcrypto, ckchild_acmez
//
// It is not meant to be run by hand.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/bench"
)

func main() {
	var (
		p         bench.Params
		id        = flag.String("scenario", "", "scenario id")
		dir       = flag.String("dir", "", "Pebble's directory URL")
		httpPort  = flag.Int("http-port", 0, "Pebble's http-01 validation port (served here)")
		tlsRoot   = flag.String("tls-root", "", "PEM file of the root of Pebble's HTTPS certificate")
		nameBase  = flag.Int64("name-base", 0, "first name number (distinct per process)")
		timeout   = flag.Duration("timeout", 20*time.Minute, "time limit")
		dumpAfter = flag.Duration("dump-after", 3*time.Minute, "print every goroutine's stack to stderr if the scenario runs longer than this")
	)
	flag.IntVar(&p.Fresh, "fresh", 10, "")
	flag.IntVar(&p.N, "n", 100, "")
	flag.IntVar(&p.C, "c", 10, "")
	flag.IntVar(&p.Multi, "multi", 10, "")
	flag.IntVar(&p.NonceReject, "nonce-reject", 50, "")
	flag.IntVar(&p.XCryptoFresh, "xcrypto-nonce-fresh", 2, "")
	flag.IntVar(&p.XCryptoN, "xcrypto-nonce-n", 10, "")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var sc *bench.Scenario
	for _, s := range bench.Scenarios(p) {
		if s.ID == *id {
			sc = &s
		}
	}
	if sc == nil {
		fatal(fmt.Errorf("unknown scenario %q", *id))
	}
	pem, err := os.ReadFile(*tlsRoot)
	if err != nil {
		fatal(err)
	}
	bench.SetNameBase(*nameBase)
	e, err := bench.AttachEnv(*dir, *httpPort, pem, sc.Reject)
	if err != nil {
		fatal(err)
	}
	// A run that takes minutes is stuck somewhere: say where, once.
	stuck := time.AfterFunc(*dumpAfter, func() {
		buf := make([]byte, 1<<20)
		fmt.Fprintf(os.Stderr, "ckchild: scenario %s still running after %v; goroutines:\n%s\n", *id, *dumpAfter, buf[:runtime.Stack(buf, true)])
	})
	start := procStatus("VmRSS:")
	allocs := heapAllocs()
	res, err := sc.Run(ctx, e, kind)
	res.HeapAlloc = heapAllocs() - allocs
	stuck.Stop()
	res.StartRSS = start
	// The peak since exec, read here: the rusage ckbench gets from wait
	// is no measure of the child, since Go starts a child with
	// CLONE_VM|CLONE_VFORK and Linux counts the parent's resident set at
	// the exec into the child's ru_maxrss (a child of a 50 MB parent
	// reports 50 MB however small it stays).
	res.PeakRSS = procStatus("VmHWM:")
	e.Close()
	sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(sample)
	res.GoMemory = sample[0].Value.Uint64()
	if jerr := json.NewEncoder(os.Stdout).Encode(res); jerr != nil {
		fatal(jerr)
	}
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "ckchild:", err)
	os.Exit(1)
}

// procStatus is a size field of /proc/self/status (VmRSS: the resident
// set size now, VmHWM: its peak) in bytes (Linux), 0 if unknown.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// heapAllocs is the heap memory allocated so far, in bytes.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
