// Command ckbench runs the certkeeper client benchmark against a local
// Pebble and prints the results as markdown tables. Run it from bench/:
//
//	go run ./cmd/ckbench
//
// It compares certkeeper (package issue), golang.org/x/crypto/acme and
// github.com/mholt/acmez/v3 on the same Pebble, counting every HTTP request
// each sends to the CA with the same counting http.RoundTripper.
package main

import (
	"context"
	"debug/buildinfo"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/bench"
)

func main() { os.Exit(run()) }

// run is the command; it returns the exit status once its deferred
// clean-up (the Pebbles it started, the children's builds) has run.
func run() int {
	var (
		pebble   = flag.String("pebble", "", "pebble `binary`; default: the pinned Pebble, built once into the user cache")
		p        bench.Params
		clients  = flag.String("clients", "", "comma-separated clients to run (default all: certkeeper,x/crypto/acme,acmez)")
		only     = flag.String("scenarios", "", "comma-separated scenario ids to run (default all: 1,1p,1e,2,3,3f,4a,4b)")
		isolate  = flag.Bool("isolate", true, "run each scenario of each client in a child process (cmd/ckchild, built here with only that client linked) and report its peak memory")
		cgo      = flag.Bool("cgo", false, "build every client's child with cgo (the go command's default: libc's resolver linked, about 1.5 MB more peak RSS) instead of CGO_ENABLED=0, as certkeeper's release is built")
		timeout  = flag.Duration("timeout", 20*time.Minute, "overall time limit")
		progress = flag.Bool("v", false, "print progress to stderr")
	)
	flag.IntVar(&p.Fresh, "fresh", 10, "certificates (each with a new account) in the fresh-account scenarios")
	flag.IntVar(&p.N, "n", 100, "certificates in the concurrent scenarios")
	flag.IntVar(&p.C, "c", 10, "concurrency of the concurrent scenarios")
	flag.IntVar(&p.Multi, "multi", 10, "certificates (of 10 names each) in the 10-name scenarios")
	flag.IntVar(&p.NonceReject, "nonce-reject", 50, "percentage of nonces Pebble rejects in scenario 4")
	flag.IntVar(&p.XCryptoFresh, "xcrypto-nonce-fresh", 2, "fresh-account certificates for x/crypto/acme under nonce rejection (about 25 s each); 0 skips")
	flag.IntVar(&p.XCryptoN, "xcrypto-nonce-n", 10, "certificates for x/crypto/acme in the concurrent scenario under nonce rejection; 0 skips")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	logf := func(format string, args ...any) {
		if *progress {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		}
	}

	bin := *pebble
	if bin == "" {
		var err error
		if bin, err = acmetest.FindPebble(ctx); err != nil {
			fatal(fmt.Errorf("%w (or pass -pebble)", err))
		}
	}

	kinds := bench.Kinds
	if *clients != "" {
		kinds = nil
		for _, name := range strings.Split(*clients, ",") {
			found := false
			for _, k := range bench.Kinds {
				if k.Name == strings.TrimSpace(name) {
					kinds, found = append(kinds, k), true
				}
			}
			if !found {
				fatal(fmt.Errorf("unknown client %q", name))
			}
		}
	}

	scenarios := bench.Scenarios(p)
	if *only != "" {
		want := map[string]bool{}
		for _, id := range strings.Split(*only, ",") {
			want[strings.TrimSpace(id)] = true
		}
		scenarios = slices.DeleteFunc(scenarios, func(sc bench.Scenario) bool { return !want[sc.ID] })
	}

	var children *childSet
	if *isolate {
		var err error
		logf("building cmd/ckchild for %d clients", len(kinds))
		if children, err = buildChildren(ctx, kinds, p, *cgo, *progress); err != nil {
			fatal(err)
		}
		defer children.Close()
	}

	startTime, startLoad := time.Now(), loadAvg()
	envs := map[int]*bench.Env{}
	defer func() {
		for _, e := range envs {
			e.Close()
		}
	}()
	type row struct {
		sc  bench.Scenario
		res bench.Result
		err error
	}
	var rows []row
	for _, sc := range scenarios {
		e := envs[sc.Reject]
		if e == nil {
			var err error
			logf("starting pebble (nonce reject %d%%)", sc.Reject)
			if e, err = bench.StartEnv(ctx, bench.EnvOptions{PebbleBinary: bin, NonceRejectPercent: sc.Reject, NoResponder: *isolate}); err != nil {
				fmt.Fprintln(os.Stderr, "ckbench:", err)
				return 1 // through the deferred clean-up: the Pebbles started so far
			}
			envs[sc.Reject] = e
		}
		for _, k := range kinds {
			if p.Skipped(sc, k) {
				continue
			}
			logf("scenario %s: %s: %s", sc.ID, sc.Title, k.Name)
			var (
				res bench.Result
				err error
			)
			if children != nil {
				res, err = children.run(ctx, e, sc, k)
			} else {
				res, err = sc.Run(ctx, e, k)
			}
			if err != nil {
				logf("  error: %v", err)
			} else {
				logf("  %d certs in %v, %.2f reqs/cert, RSS %s at start, %s at peak", res.Certs, res.Elapsed.Round(time.Millisecond), res.ReqsPerCert(), mb(res.StartRSS), mb(res.PeakRSS))
			}
			rows = append(rows, row{sc, res, err})
		}
	}

	w := os.Stdout
	fmt.Fprintf(w, "Machine: %d CPUs (%s/%s), %s, Pebble %s (PEBBLE_VA_NOSLEEP=1, no Retry-After, PEBBLE_AUTHZREUSE=0). Run %s, load average %s at start, %s at end.\n\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), pebbleVersion(bin), startTime.UTC().Format("2006-01-02 15:04 MST"), startLoad, loadAvg())

	byID := map[string]bench.Result{}
	for _, r := range rows {
		if r.err == nil {
			byID[r.sc.ID+" "+r.res.Client] = r.res
		}
	}
	base := map[string]string{"4a": "1", "4b": "2"}
	fmt.Fprintln(w, "| # | Scenario | Client | Certs | Wall time | Time/cert | p50 / max latency | Reqs/cert | RSS start / peak | Heap alloc/cert | badNonce/cert | Extra time per badNonce |")
	fmt.Fprintln(w, "|---|----------|--------|------:|----------:|----------:|------------------:|----------:|-----------------:|----------------:|--------------:|------------------------:|")
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(w, "| %s | %s | %s | %d | error: %s | | | | | | | |\n", r.sc.ID, r.sc.Title, r.res.Client, r.res.Certs, oneLine(r.err))
			continue
		}
		extra := ""
		if r0, ok := byID[base[r.sc.ID]+" "+r.res.Client]; ok && r.res.Reqs.BadNonce > 0 {
			extra = dur((r.res.PerCert() - r0.PerCert()) * time.Duration(r.res.Certs) / time.Duration(r.res.Reqs.BadNonce))
		}
		rss := ""
		if r.res.PeakRSS > 0 {
			rss = mb(r.res.StartRSS) + " / " + mb(r.res.PeakRSS)
		}
		heap := ""
		if r.res.HeapAlloc > 0 {
			heap = fmt.Sprintf("%.0f KB", float64(r.res.HeapAlloc)/1024/float64(max(r.res.Certs, 1)))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %s | %s | %s / %s | %.2f | %s | %s | %.2f | %s |\n", r.sc.ID, r.sc.Title, r.res.Client, r.res.Certs,
			dur(r.res.Elapsed), dur(r.res.PerCert()), dur(r.res.Latency(0.5)), dur(r.res.Latency(1)), r.res.ReqsPerCert(), rss, heap, float64(r.res.Reqs.BadNonce)/float64(r.res.Certs), extra)
	}
	if *isolate {
		build := "CGO_ENABLED=0, as certkeeper's release is built (no C library mapped)"
		if *cgo {
			build = "CGO_ENABLED=1 (-cgo: the C library and its loader mapped, for net's libc resolver)"
		}
		fmt.Fprintln(w, "\nRSS start / peak: resident set size of the child process that ran the row alone, every client's child built the same way, "+build+", with only that client linked, just before the run and at its peak (VmHWM of /proc/self/status, read by the child at the end; not the rusage ru_maxrss, which counts ckbench's own resident set at the fork): the Go runtime, the program and its client, Pebble excluded. Heap alloc/cert: heap memory the run allocated (runtime/metrics /gc/heap/allocs:bytes, garbage included) ÷ certificates.")
	}
	fmt.Fprintln(w, "\nTime/cert is wall time ÷ certificates (so at concurrency 10 it is a throughput figure); latency is per Obtain call (plus account creation in the fresh-account rows).")
	fmt.Fprintln(w, "\nExtra time per badNonce: (time/cert at the rejection rate − time/cert at 0%) ÷ rejections/cert, same client. About one round trip means the client retried at once; hundreds of ms means it slept.")

	fmt.Fprintln(w, "\nRequests per certificate by endpoint (badNonce rejections and their retries included):")
	fmt.Fprintln(w)
	var eps []string
	for _, ep := range bench.Endpoints {
		for _, r := range rows {
			if r.err == nil && r.res.Reqs.ByEndpoint[ep] > 0 {
				eps = append(eps, ep)
				break
			}
		}
	}
	fmt.Fprintf(w, "| # | Client | %s |\n", strings.Join(eps, " | "))
	fmt.Fprintf(w, "|---|--------|%s\n", strings.Repeat("-----:|", len(eps)))
	for _, r := range rows {
		if r.err != nil {
			continue
		}
		cells := make([]string, len(eps))
		for i, ep := range eps {
			cells[i] = fmt.Sprintf("%.2f", float64(r.res.Reqs.ByEndpoint[ep])/float64(r.res.Certs))
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", r.sc.ID, r.res.Client, strings.Join(cells, " | "))
	}

	// certkeeper against its targets.
	ck := map[string]bench.Result{}
	for _, r := range rows {
		if r.err == nil && r.res.Client == "certkeeper" {
			ck[r.sc.ID] = r.res
		}
	}
	if len(ck) > 0 {
		fmt.Fprintln(w, "\ncertkeeper against its targets:")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| Target | Measured | Met |")
		fmt.Fprintln(w, "|--------|---------:|-----|")
		target := func(name string, ok bool, measured string) {
			fmt.Fprintf(w, "| %s | %s | %s |\n", name, measured, map[bool]string{true: "yes", false: "**no**"}[ok])
		}
		if r, ok := ck["1"]; ok {
			target("fresh account + 1 cert ≤ 25 ms", r.PerCert() <= 25*time.Millisecond, dur(r.PerCert()))
		}
		if r, ok := ck["1p"]; ok && r.PeakRSS > 0 {
			target("peak memory of a one-certificate run (1p) ≤ 10 MB", r.PeakRSS <= 10<<20,
				fmt.Sprintf("%s peak RSS (%s before the first request; %.0f KB of heap allocated)", mb(r.PeakRSS), mb(r.StartRSS), float64(r.HeapAlloc)/1024))
		}
		if r, ok := ck["3f"]; ok {
			target("10 names, fresh account (3f) ≤ 30 ms", r.PerCert() <= 30*time.Millisecond, dur(r.PerCert()))
			target("10 names, fresh account (3f) ≤ 28 requests", r.ReqsPerCert() <= 28, fmt.Sprintf("%.2f", r.ReqsPerCert()))
		}
		if r, ok := ck["1e"]; ok {
			target("≤ 7 requests/cert with an existing account, one at a time (1e)", r.ReqsPerCert() <= 7, fmt.Sprintf("%.2f", r.ReqsPerCert()))
		}
		if r, ok := ck["2"]; ok {
			target(fmt.Sprintf("%d certs at concurrency %d ≤ 1 s total", r.Certs, r.Concurrency), r.Elapsed <= time.Second, dur(r.Elapsed))
			target("≤ 7 requests/cert with an existing account, concurrency 10 (2)", r.ReqsPerCert() <= 7, fmt.Sprintf("%.2f", r.ReqsPerCert()))
		}
		if r, ok := ck["3"]; ok {
			target("10 names, existing account (3) ≤ 30 ms", r.PerCert() <= 30*time.Millisecond, dur(r.PerCert()))
		}
		for _, pair := range [][2]string{{"1", "4a"}, {"2", "4b"}} {
			r0, ok0 := ck[pair[0]]
			r, ok := ck[pair[1]]
			if !ok0 || !ok || r.Reqs.BadNonce == 0 {
				continue
			}
			// A client that sleeps on badNonce pays at least that sleep per
			// rejection (acmez 250 ms, x/crypto/acme 1 s and more); one that
			// retries at once pays one round trip.
			extra := (r.PerCert() - r0.PerCert()) * time.Duration(r.Certs) / time.Duration(r.Reqs.BadNonce)
			target(fmt.Sprintf("no sleep on badNonce (scenario %s vs %s): extra wall time per rejection ≤ 10 ms", pair[1], pair[0]),
				extra <= 10*time.Millisecond,
				fmt.Sprintf("%s (%s/cert vs %s/cert, %.2f rejections/cert)", dur(extra), dur(r.PerCert()), dur(r0.PerCert()), float64(r.Reqs.BadNonce)/float64(r.Certs)))
		}
	}
	for _, r := range rows {
		if r.err != nil {
			return 1
		}
	}
	return 0
}

func pebbleVersion(bin string) string {
	if info, err := buildinfo.ReadFile(bin); err == nil {
		for _, d := range info.Deps {
			if d.Path == "github.com/letsencrypt/pebble/v2" {
				return d.Version
			}
		}
		if info.Main.Path == "github.com/letsencrypt/pebble/v2" && info.Main.Version != "" {
			return info.Main.Version
		}
	}
	out, _ := exec.Command(bin, "-version").CombinedOutput()
	return strings.TrimSpace(string(out))
}

func dur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

func oneLine(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// loadAvg is the 1-minute load average, or "?" off Linux.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "ckbench:", err)
	os.Exit(1)
}
