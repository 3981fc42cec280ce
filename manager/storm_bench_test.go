package manager_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/solver/http01"
	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/storetest"
)

// Settings of BenchmarkRenewalStorm, flags of this test binary only:
//
//	go test -run '^$' -bench RenewalStorm -benchtime 1x ./manager/ -storm.n 10000
var (
	stormN       = flag.Int("storm.n", 200, "BenchmarkRenewalStorm: certificates due at once")
	stormConc    = flag.Int("storm.c", 0, "BenchmarkRenewalStorm: manager Config.Concurrency (0: the ceiling client's best)")
	stormCache   = flag.Int("storm.cache", 1000, "BenchmarkRenewalStorm: manager Config.CacheSize")
	stormFaults  = flag.Float64("storm.faults", 0.05, "BenchmarkRenewalStorm: share of newOrder (429) and finalize (503) requests refused with Retry-After 1 s in the second run (0: no such run)")
	stormProbe   = flag.Int("storm.probe", 100, "BenchmarkRenewalStorm: certificates per concurrency level tried by the ceiling client")
	stormSample  = flag.Duration("storm.sample", 0, "BenchmarkRenewalStorm: take a goroutine profile this often during a storm and log where the renewals spend their time (0: none)")
	stormCPU     = flag.String("storm.cpuprofile", "", "BenchmarkRenewalStorm: write a CPU profile of the first storm alone (not the ceiling) to this file")
	stormDir     = flag.String("storm.dir", "", "BenchmarkRenewalStorm: make the storms' directory stores under this directory (default: the benchmark's temporary directory); /dev/shm leaves the disk out")
	stormMem     = flag.String("storm.memprofile", "", "BenchmarkRenewalStorm: write a heap profile of the storm's end (after a GC; the manager still alive) to this file, and one of its start to this file plus .start (compare: go tool pprof -diff_base FILE.start FILE); the storm with faults's to FILE.faults and FILE.faults.start")
	stormUnswept = flag.Bool("storm.unswept", false, "BenchmarkRenewalStorm: do not sweep the storms' stores for this boot beforehand (a storm at the first start after a reboot: each certificate's first lock looks for leftovers, and Run sweeps beside the storm)")
	stormCeil    = flag.Float64("storm.ceiling", 0, "BenchmarkRenewalStorm: take this as the ceiling (certificates/s) instead of measuring it (0: measure)")
)

// stormAge is how far the storm's clock runs ahead of the real time: the
// generated certificates (90 days, made at most 20 days ago) are due
// renewal then, while those Pebble issues (stormValidity) are not.
const (
	stormAge      = 70 * 24 * time.Hour
	stormValidity = 365 * 24 * time.Hour
)

// aheadClock is the real clock moved ahead by a fixed duration.
type aheadClock struct{ d time.Duration }

func (c aheadClock) Now() time.Time { return time.Now().Add(c.d) }
func (c aheadClock) NewTimer(d time.Duration) manager.Timer {
	return realTimer{time.NewTimer(d)}
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time        { return t.t.C }
func (t realTimer) Stop() bool                 { return t.t.Stop() }
func (t realTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

// BenchmarkRenewalStorm renews N certificates that fall due at the same
// moment (issue 12, point 2). The N certificates are those of
// storetest.CachedDir (real keys and chains under storetest.GeneratedCA),
// copied into a new directory store (under -storm.dir if set); the manager's clock runs 70 days
// ahead, so that all of them are due; its ACME client reaches Pebble
// (profile of one year, so a renewed certificate is not due again) for
// GeneratedCA's host. Every Pebble of the run, the ceiling's and the
// storms', is stormPebble's: acmetest.PebbleVersion with the lock-order
// deadlock that made the stock one stop answering under concurrent load
// removed (BenchmarkPebbleLockOrder shows it). The store is swept for
// this boot before the storm (store.Certs.SweepLeftovers, as the manager
// that ran before in the boot leaves it; -storm.unswept: not, a storm at
// the first start after a reboot). Three measurements in one run:
//
//   - ceiling: the simplest client of package acme (newOrder, authz,
//     challenge, WaitOrder, finalize, WaitOrder, certificate; one key for
//     every CSR, nothing stored) at concurrency 4, 8, 16, 32 and 64
//     (and -storm.c) on -storm.probe certificates each, then at the
//     best one on N
//     certificates, each run on a new Pebble (Pebble's newOrder scans
//     every authorization it holds: the storm meets the same);
//   - storm: manager.Run with Config.Concurrency (-storm.c, else the
//     ceiling's best) and CacheSize (-storm.cache) until every
//     certificate is renewed: certificates per second against the
//     ceiling (target ≥ 80 %), the most orders in flight (≤ Concurrency),
//     heap in use sampled every 100 ms (start, peak, end);
//   - storm-faults: the same with acmetest's FaultProxy in front of
//     Pebble refusing a share (-storm.faults) of newOrder with 429 and of
//     finalize with 503, both with Retry-After 1 s: every such answer
//     honoured (no request for the same order, or the same newOrder,
//     before its Retry-After ran out), seen at the client.
func BenchmarkRenewalStorm(b *testing.B) {
	n := *stormN
	ctx := context.Background()
	bin, err := stormPebble(ctx)
	if err != nil {
		b.Fatal(err)
	}
	src := storetest.CachedDir(b, n)

	var best int
	var ceiling float64
	var ceilingCPU certCPU // per certificate at the best concurrency, on N
	if *stormCeil > 0 {
		best, ceiling = 16, *stormCeil
	}
	b.Run("ceiling", func(b *testing.B) {
		if *stormCeil > 0 {
			b.Skip("-storm.ceiling given")
		}
		for b.Loop() {
			best, ceiling = 0, 0
			levels := []int{4, 8, 16, 32, 64}
			if c := *stormConc; c > 0 && !slices.Contains(levels, c) {
				levels = append(levels, c) // the storm's, tried too
			}
			for _, c := range levels {
				rate, _, err := ceilingOnNewPebble(ctx, b, bin, *stormProbe, c, time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("ceiling probe: concurrency %d: %.1f certificates/s", c, rate)
				if rate > ceiling {
					best, ceiling = c, rate
				}
			}
			// N certificates from a Pebble of its own, as the storm
			// gets: Pebble's newOrder scans every authorization it
			// holds, so it slows down as it issues.
			rate, cpu, err := ceilingOnNewPebble(ctx, b, bin, n, best, time.Duration(n)*200*time.Millisecond+time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("ceiling: %d certificates at concurrency %d from a new Pebble: %.1f certificates/s", n, best, rate)
			ceiling, ceilingCPU = rate, cpu
		}
		b.ReportMetric(ceiling, "certs/s")
		b.ReportMetric(float64(best), "concurrency")
		b.ReportMetric(0, "ns/op")
	})
	if ceiling == 0 {
		b.Fatal("no ceiling measured")
	}
	conc := *stormConc
	if conc == 0 {
		conc = best
	}
	runs := []float64{0}
	if *stormFaults > 0 {
		runs = append(runs, *stormFaults)
	}
	for _, faults := range runs {
		name := "storm"
		if faults > 0 {
			name = "storm-faults"
		}
		b.Run(name, func(b *testing.B) {
			var r stormResult
			for b.Loop() {
				b.StopTimer()
				root := stormRoot(b)
				copyTree(b, src, root)
				linkVersions(b, root)
				if !*stormUnswept {
					sweepStore(b, root)
				}
				b.StartTimer()
				ca := newStormCA(b, bin)
				stop := startCPUProfile(b, faults)
				r = runStorm(b, ca.p, ca.sol, ca.acct, root, n, conc, faults)
				stop()
			}
			rate := float64(n) / r.elapsed.Seconds()
			b.Logf("%d certificates renewed in %v at concurrency %d (CacheSize %d): %.1f certificates/s, %.0f%% of the ceiling (%.1f/s); most orders in flight %d; %.2f ACME requests/cert (by endpoint: requests, mean time) %s; heap in use start %.1f MB, peak %.1f MB, end %.1f MB; live heap (after a GC) start %.1f MB, end %.1f MB (%+.0f bytes/cert; of it the fault proxy's request log, the benchmark's, at least %.1f MB, %.0f bytes/cert), %d entries in the cache, %d holding a parsed certificate; %d attempts failed; %d Retry-After answers, %d requests before their time",
				n, r.elapsed.Round(time.Millisecond), conc, *stormCache, rate, 100*rate/ceiling, ceiling, r.maxInFlight,
				float64(r.requests)/float64(n), r.byEndpoint, mb(r.heapStart), mb(r.heapPeak), mb(r.heapEnd), mb(r.liveStart), mb(r.liveEnd), (float64(r.liveEnd)-float64(r.liveStart))/float64(n), mb(r.proxyLog), float64(r.proxyLog)/float64(n), r.cached, r.held, r.failed, r.retryAfters, len(r.early))
			b.Logf("storm: %s", r.cpu)
			if ceilingCPU.total() > 0 && r.cpu.total() > 0 {
				// On two cores shared by the client and Pebble, the
				// throughput the CPU allows: steadier than the rates,
				// which the machine's other load moves.
				b.Logf("storm: by CPU per certificate (client and Pebble), %.0f%% of the ceiling's", 100*ceilingCPU.total()/r.cpu.total())
				b.ReportMetric(100*ceilingCPU.total()/r.cpu.total(), "%ceiling-cpu")
			}
			for _, e := range r.early {
				b.Errorf("Retry-After not honoured: %s", e)
			}
			if r.maxInFlight > conc {
				b.Errorf("%d orders in flight; Concurrency is %d", r.maxInFlight, conc)
			}
			if faults > 0 && r.retryAfters == 0 {
				b.Error("the fault proxy gave no Retry-After: nothing was checked")
			}
			b.ReportMetric(rate, "certs/s")
			b.ReportMetric(100*rate/ceiling, "%ceiling")
			b.ReportMetric(float64(r.maxInFlight), "max-inflight")
			b.ReportMetric(float64(r.requests)/float64(n), "reqs/cert")
			b.ReportMetric(mb(r.heapStart), "heap-start-MB")
			b.ReportMetric(mb(r.heapPeak), "heap-peak-MB")
			b.ReportMetric(mb(r.heapEnd), "heap-end-MB")
			b.ReportMetric(mb(r.liveStart), "live-start-MB")
			b.ReportMetric(mb(r.liveEnd), "live-end-MB")
			b.ReportMetric((float64(r.liveEnd)-float64(r.liveStart))/float64(n), "live-B/cert")
			b.ReportMetric((float64(r.liveEnd)-float64(r.liveStart)-float64(r.proxyLog))/float64(n), "client-live-B/cert")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// ceilingOnNewPebble runs ceilingRun on a new Pebble (the binary at bin)
// within limit. It used to try a second Pebble when the first stopped
// answering; on stormPebble's, which has the deadlock behind that removed,
// a stall is an error like any other.
func ceilingOnNewPebble(ctx context.Context, b *testing.B, bin string, n, conc int, limit time.Duration) (float64, certCPU, error) {
	ca := newStormCA(b, bin)
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	s0, p0 := cpuTicks()
	rate, err := ceilingRun(ctx, ca.client, ca.acct, ca.sol, n, conc, "a")
	if err != nil {
		return 0, certCPU{}, fmt.Errorf("ceiling, %d certificates at concurrency %d: %w", n, conc, err)
	}
	s1, p1 := cpuTicks()
	cpu := cpuPerCert(s0, p0, s1, p1, n)
	b.Logf("ceiling, %d certificates at concurrency %d: %s", n, conc, cpu)
	return rate, cpu, nil
}

// stormCA is a new Pebble with an http-01 server and an account;
// newStormCA starts it from the pebble binary at bin (stormPebble's).
type stormCA struct {
	p      *acmetest.Pebble
	sol    *http01.Handler
	client *acme.Client
	acct   acme.Account
}

func newStormCA(b *testing.B, bin string) *stormCA {
	dns := stormDNS(b)
	var (
		p *acmetest.Pebble
		l net.Listener
	)
	// Pebble's http-01 port is one that was free when acmetest looked;
	// on a machine busy with connections (a storm makes thousands) it
	// may be taken, as the source port of one, before the listen here:
	// then another Pebble, with another port.
	for attempt := 1; ; attempt++ {
		p = acmetest.NewTestPebble(b, acmetest.PebbleOptions{
			Binary:     bin,
			DNSServer:  dns,
			AuthzReuse: 0,
			Profiles:   map[string]acmetest.Profile{"default": {ValidityPeriod: stormValidity}},
		})
		var err error
		if l, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.HTTPPort))); err == nil {
			break
		}
		if err := p.Close(); err != nil {
			b.Log(err)
		}
		if attempt == 3 {
			b.Fatal(err)
		}
		b.Logf("http-01 port of Pebble taken (%v): another Pebble", err)
	}
	sol := &http01.Handler{}
	srv := &http.Server{Handler: sol, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	client := &acme.Client{DirectoryURL: p.DirectoryURL, HTTPClient: p.HTTPClient()}
	return &stormCA{p: p, sol: sol, client: client, acct: stormAccount(b, client)}
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func stormAccount(b *testing.B, c *acme.Client) acme.Account {
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		b.Fatal(err)
	}
	acct, err := c.NewAccount(context.Background(), acme.Account{Key: key, TermsOfServiceAgreed: true})
	if err != nil {
		b.Fatal(err)
	}
	return acct
}

// ceilingRun issues n certificates for fresh names with the plainest use
// of package acme, conc at a time, and returns certificates per second.
func ceilingRun(ctx context.Context, c *acme.Client, acct acme.Account, sol *http01.Handler, n, conc int, tag string) (float64, error) {
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		return 0, err
	}
	var (
		next atomic.Int64
		done atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go stallWatch(ctx, cancel, done.Load)
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				name := fmt.Sprintf("c%d.%s.ceiling.example.test", i, tag)
				if err := ceilingOne(ctx, c, acct, sol, key, name); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", name, err))
					mu.Unlock()
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// stallTimeout is how long a run may go without finishing a certificate
// before stallWatch says Pebble stopped answering.
const stallTimeout = time.Minute

// stallWatch cancels ctx when count has not moved for stallTimeout.
func stallWatch(ctx context.Context, cancel context.CancelCauseFunc, count func() int64) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last, since := count(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c := count(); c != last {
			last, since = c, time.Now()
		} else if time.Since(since) > stallTimeout {
			cancel(fmt.Errorf("no certificate for %v after %d: Pebble stopped answering", stallTimeout, c))
			return
		}
	}
}

func ceilingOne(ctx context.Context, c *acme.Client, acct acme.Account, sol *http01.Handler, key crypto.Signer, name string) error {
	o, err := c.NewOrder(ctx, acct, []acme.Identifier{acme.DNSIdentifier(name)})
	if err != nil {
		return err
	}
	for _, u := range o.Authorizations {
		a, err := c.GetAuthorization(ctx, acct, u)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(a.Challenges, func(ch acme.Challenge) bool { return ch.Type == acme.ChallengeHTTP01 })
		if i < 0 {
			return errors.New("no http-01 challenge")
		}
		ch := a.Challenges[i]
		if err := sol.Present(ctx, ch); err != nil {
			return err
		}
		defer sol.CleanUp(ctx, ch)
		if _, err := c.AcceptChallenge(ctx, acct, ch); err != nil {
			return err
		}
	}
	if o, err = c.WaitOrder(ctx, acct, o.URL); err != nil {
		return err
	}
	csr, err := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, key)
	if err != nil {
		return err
	}
	if o, err = c.FinalizeOrder(ctx, acct, o, csr); err != nil {
		return err
	}
	if o.Status != acme.StatusValid {
		if o, err = c.WaitOrder(ctx, acct, o.URL); err != nil {
			return err
		}
	}
	_, err = c.GetCertificateChains(ctx, acct, o.CertificateURL)
	return err
}

// stormResult is what one storm measured.
type stormResult struct {
	elapsed                      time.Duration
	maxInFlight                  int
	requests                     int64
	byEndpoint                   string
	heapStart, heapPeak, heapEnd uint64
	// liveStart and liveEnd are the bytes of live objects (HeapAlloc
	// right after a GC) before the storm and after it, the manager still
	// alive: what the storm left behind.
	liveStart, liveEnd uint64
	// cached and held are, at the end, the entries counted in the
	// manager's cache of parsed certificates and those holding one.
	cached, held int
	// proxyLog is about what the fault proxy's log of requests takes
	// (see faultProxyLog), part of liveEnd that is the benchmark's.
	proxyLog    uint64
	failed      int
	retryAfters int
	early       []string
	cpu         certCPU
}

// runStorm manages the n certificates of the directory store at root
// and runs the manager until each is renewed.
func runStorm(b *testing.B, p *acmetest.Pebble, sol *http01.Handler, acct acme.Account, root string, n, conc int, faults float64) stormResult {
	target, hc := p.DirectoryURL, p.HTTPClient()
	var fp *acmetest.FaultProxy
	if faults > 0 {
		fp = acmetest.NewTestFaultProxy(b, p)
		fp.SetRules(
			acmetest.Rule{Method: http.MethodPost, PathPrefix: "/order-plz", Fault: acmetest.Status429RetryAfter,
				Probability: faults, Seed: 1, RetryAfter: time.Second, ReplayNonce: true},
			acmetest.Rule{Method: http.MethodPost, PathPrefix: "/finalize-order/", Fault: acmetest.Status503RetryAfter,
				Probability: faults, Seed: 2, RetryAfter: time.Second, ReplayNonce: true},
		)
		target, hc = fp.URL, fp.HTTPClient()
	}
	rec := &stormRecorder{next: caHostTransport(b, hc, target), allowed: map[string]time.Time{}, byEndpoint: map[string]int64{}, took: map[string]time.Duration{}}
	client := &acme.Client{DirectoryURL: storetest.GeneratedCA, HTTPClient: &http.Client{Transport: rec, Timeout: time.Minute}}
	// The account Pebble knows, reached through GeneratedCA's host.
	acctHere := acct
	acctHere.URL = strings.Replace(acct.URL, hostOf(p.DirectoryURL), "ca.example.test", 1)
	is := &issue.Issuer{Client: client, Account: acctHere, Solvers: map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: sol}}

	st, err := store.NewDir(root)
	if err != nil {
		b.Fatal(err)
	}
	var (
		mu        sync.Mutex
		inFlight  int
		maxFlight int
		// Sized before the live heap's first sample, so that the
		// benchmark's own bookkeeping is not counted as what the
		// storm left behind.
		renewed = make(map[string]int, n)
		failed  int
		done    = make(chan struct{})
	)
	m, err := manager.New(manager.Config{
		Store:       st,
		Clock:       aheadClock{stormAge},
		Concurrency: conc,
		CacheSize:   *stormCache,
		Backoff:     []time.Duration{time.Second},
		OnEvent: func(ev manager.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch ev.Type {
			case manager.EventRenewing, manager.EventObtaining:
				inFlight++
				maxFlight = max(maxFlight, inFlight)
			case manager.EventRenewed, manager.EventObtained:
				inFlight--
				renewed[ev.Name]++
				if len(renewed) == n && renewed[ev.Name] == 1 {
					close(done)
				}
			case manager.EventFailed:
				inFlight--
				failed++
				if failed <= 5 {
					b.Logf("failed: %s: %v", ev.Name, ev.Err)
					println("FAILED", ev.Name, ev.Err.Error())
				}
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	certs := make([]manager.Spec, n)
	for i := range certs {
		certs[i] = manager.Spec{Identifiers: []acme.Identifier{acme.DNSIdentifier(storetest.GeneratedName(i))}, Issuer: is}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	if err := m.Manage(ctx, certs...); err != nil {
		b.Fatal(err)
	}

	var r stormResult
	r.liveStart = liveHeap()
	r.heapStart = heapInUse()
	if *stormMem != "" {
		writeHeapProfile(b, memProfileName(faults)+".start")
	}
	sampled := make(chan struct{})
	sampleCtx, stopSampling := context.WithCancel(ctx)
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			r.heapPeak = max(r.heapPeak, heapInUse())
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
		}
	}()

	var sampler stormSampler
	sampledAll := make(chan struct{})
	if *stormSample > 0 {
		go func() { defer close(sampledAll); sampler.run(sampleCtx, *stormSample) }()
	} else {
		close(sampledAll)
	}

	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	start := time.Now()
	s0, p0 := cpuTicks()
	go func() { ran <- m.Run(runCtx) }()
	count := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		return int64(len(renewed) + failed)
	}
	stallCtx, stalled := context.WithCancelCause(ctx)
	defer stalled(nil)
	go stallWatch(stallCtx, stalled, count)
	select {
	case <-done:
	case <-stallCtx.Done():
		b.Fatalf("%d of %d renewed: %v", count(), n, context.Cause(stallCtx))
	}
	r.elapsed = time.Since(start)
	s1, p1 := cpuTicks()
	r.cpu = cpuPerCert(s0, p0, s1, p1, n)
	stop()
	<-ran
	stopSampling()
	<-sampled
	<-sampledAll
	if *stormSample > 0 {
		// Printed, not logged: the benchmark's log is cut at a few lines.
		fmt.Printf("where the attempts were (goroutine samples every %v): %s\n", *stormSample, sampler.report(30))
	}
	r.liveEnd = liveHeap()
	r.proxyLog = faultProxyLog(fp)
	r.cached, r.held, _ = manager.CacheStats(m)
	r.heapEnd = heapInUse()
	if *stormMem != "" {
		writeHeapProfile(b, memProfileName(faults))
	}

	mu.Lock()
	r.maxInFlight, r.failed = maxFlight, failed
	for name, c := range renewed {
		if c != 1 {
			b.Errorf("%s renewed %d times", name, c)
		}
	}
	mu.Unlock()
	// Each is served and is Pebble's (not the generated one).
	for _, i := range []int{0, n / 2, n - 1} {
		c, err := m.Load(ctx, storetest.GeneratedName(i))
		if err != nil || c == nil || c.Leaf == nil || c.Leaf.Issuer.CommonName == "certkeeper generated intermediate" {
			b.Errorf("%s: not the renewed certificate (%v)", storetest.GeneratedName(i), err)
		}
	}
	r.requests, r.byEndpoint, r.retryAfters, r.early = rec.summary()
	return r
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// faultProxyLog returns about how many bytes the request log of fp (nil:
// none) holds, at least: the FaultProxy, in this process, keeps a
// RequestRecord of every request it forwarded (acmetest has no way to
// turn that off), whose path keeps the request's first line.
func faultProxyLog(fp *acmetest.FaultProxy) uint64 {
	if fp == nil {
		return 0
	}
	recs := fp.Requests()
	n := uint64(len(recs)) * uint64(unsafe.Sizeof(acmetest.RequestRecord{}))
	for _, r := range recs {
		n += uint64(len(r.Method) + 1 + len(r.Path) + len(" HTTP/1.1"))
	}
	return n
}

// liveHeap returns the bytes of live heap objects: HeapAlloc right after
// a forced GC (twice, so that what the first one's finalizers let go is
// gone too).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// memProfileName is the file of -storm.memprofile for the storm with
// the share faults of faults.
func memProfileName(faults float64) string {
	if faults > 0 {
		return *stormMem + ".faults"
	}
	return *stormMem
}

// writeHeapProfile writes the heap profile (inuse_space is what is live
// at the last GC) to path.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Error(err)
	}
	if err := f.Close(); err != nil {
		b.Error(err)
	}
}

func hostOf(u string) string {
	u = strings.TrimPrefix(u, "https://")
	host, _, _ := strings.Cut(u, "/")
	return host
}

// caHostTransport returns a transport like hc's that connects to
// target's host whenever GeneratedCA's host (ca.example.test:443) is
// asked for, checking the server's certificate for 127.0.0.1: so that a
// client configured for GeneratedCA talks to Pebble, or to a proxy in
// front of it, which build their URLs from the Host header.
func caHostTransport(b *testing.B, hc *http.Client, target string) http.RoundTripper {
	tr, ok := hc.Transport.(*http.Transport)
	if !ok {
		b.Fatalf("transport %T", hc.Transport)
	}
	tr = tr.Clone()
	to := hostOf(target)
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == "ca.example.test:443" {
			addr = to
		}
		return d.DialContext(ctx, network, addr)
	}
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	tr.TLSClientConfig.ServerName = "127.0.0.1"
	tr.MaxIdleConnsPerHost = 256
	return dirPath{tr}
}

// dirPath asks for Pebble's directory ("/dir") when GeneratedCA's
// ("/directory") is asked for.
type dirPath struct{ next http.RoundTripper }

func (d dirPath) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == "ca.example.test" && req.URL.Path == "/directory" {
		req = req.Clone(req.Context())
		req.URL.Path = "/dir"
	}
	return d.next.RoundTrip(req)
}

// stormRecorder counts the requests to the CA by endpoint and checks, at
// the client, that every Retry-After of a 429 or 503 is honoured: no
// request for the same resource (the same path; for newOrder, the same
// identifiers) starts before the answer's time plus its Retry-After.
type stormRecorder struct {
	next http.RoundTripper

	mu          sync.Mutex
	requests    int64
	byEndpoint  map[string]int64
	took        map[string]time.Duration
	allowed     map[string]time.Time
	retryAfters int
	early       []string
}

func (s *stormRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	key := req.Method + " " + req.URL.Path
	if req.Method == http.MethodPost && req.URL.Path == "/order-plz" && req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			key += " " + orderIdentifiers(body)
		}
	}
	start := time.Now()
	s.mu.Lock()
	s.requests++
	s.byEndpoint[endpointOf(req.URL.Path)]++
	if t, ok := s.allowed[key]; ok && start.Before(t) {
		s.early = append(s.early, fmt.Sprintf("%s at %s, %v before the Retry-After ran out", key, start.Format(time.StampMilli), t.Sub(start)))
	}
	s.mu.Unlock()
	resp, err := s.next.RoundTrip(req)
	s.mu.Lock()
	s.took[endpointOf(req.URL.Path)] += time.Since(start)
	s.mu.Unlock()
	if err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil {
			s.mu.Lock()
			s.retryAfters++
			s.allowed[key] = time.Now().Add(time.Duration(secs) * time.Second)
			s.mu.Unlock()
		}
	}
	return resp, err
}

// orderIdentifiers returns the identifiers of a newOrder JWS body.
func orderIdentifiers(body io.ReadCloser) string {
	defer body.Close()
	raw, err := io.ReadAll(body)
	if err != nil {
		return ""
	}
	var jws struct{ Payload string }
	if json.Unmarshal(raw, &jws) != nil {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(jws.Payload)
	if err != nil {
		return ""
	}
	var o struct {
		Identifiers []struct{ Value string }
	}
	if json.Unmarshal(payload, &o) != nil {
		return ""
	}
	var ids []string
	for _, id := range o.Identifiers {
		ids = append(ids, id.Value)
	}
	return strings.Join(ids, ",")
}

// endpointOf names a Pebble path by its first segment.
func endpointOf(path string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if seg == "draft-ietf-acme-ari-03" {
		return "renewalInfo"
	}
	return seg
}

func (s *stormRecorder) summary() (int64, string, int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.byEndpoint))
	for k := range s.byEndpoint {
		names = append(names, k)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	buf.WriteString("(")
	for i, k := range names {
		if i > 0 {
			buf.WriteString(", ")
		}
		fmt.Fprintf(&buf, "%s %d, %.1f ms", k, s.byEndpoint[k], float64(s.took[k].Microseconds())/1000/float64(s.byEndpoint[k]))
	}
	buf.WriteString(")")
	return s.requests, buf.String(), s.retryAfters, slices.Clone(s.early)
}

// linkVersions gives each certificate of the directory store at root the
// links a Dir's saves make (live → versions/<n>, and key.pem, cert.pem,
// combined.pem and meta.json → live/…) in place of the pointer key
// ("current") that storetest's generator, which writes through a Memory
// store, leaves: the storm then renews a store as certkeeper keeps it,
// not one that each certificate's first save converts.
func linkVersions(b *testing.B, root string) {
	b.Helper()
	pointers, err := filepath.Glob(filepath.Join(root, "certificates", "*", "*", "current"))
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range pointers {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		dir, v := filepath.Dir(p), "versions/"+strings.TrimSpace(string(data))
		if err := os.Symlink(v, filepath.Join(dir, "live")); err != nil {
			b.Fatal(err)
		}
		for _, f := range []string{"key.pem", "cert.pem", "combined.pem", "meta.json"} {
			if _, err := os.Stat(filepath.Join(dir, v, f)); err == nil {
				if err := os.Symlink("live/"+f, filepath.Join(dir, f)); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := os.Remove(p); err != nil {
			b.Fatal(err)
		}
	}
}

// sweepStore sweeps the store at root for this boot, as a process of the
// boot that ran before leaves it (the manager's Run sweeps once per boot).
func sweepStore(b *testing.B, root string) {
	prev, err := store.NewDir(root)
	if err != nil {
		b.Fatal(err)
	}
	if err := (&store.Certs{Store: prev}).SweepLeftovers(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// startCPUProfile starts the CPU profile of -storm.cpuprofile for the
// storm without faults, and returns what stops it.
func startCPUProfile(b *testing.B, faults float64) (stop func()) {
	if *stormCPU == "" || faults > 0 {
		return func() {}
	}
	f, err := os.Create(*stormCPU)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

// stormRoot makes the directory of a storm's store: under -storm.dir if
// set, else in the benchmark's temporary directory. It is removed when
// the benchmark ends.
func stormRoot(b *testing.B) string {
	if *stormDir == "" {
		return b.TempDir()
	}
	root, err := os.MkdirTemp(*stormDir, "storm")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(root) })
	return root
}
