package bench

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Client is one ACME client under test. Implementations are safe for
// concurrent use once NewAccount has returned.
type Client interface {
	// NewAccount registers a new account with a new EC P-256 key and keeps
	// it for Obtain.
	NewAccount(ctx context.Context) error
	// Obtain gets one certificate for names (a new EC P-256 key, http-01
	// for every name) and returns its leaf.
	Obtain(ctx context.Context, names []string) (*x509.Certificate, error)
}

// Kind is a client implementation.
type Kind struct {
	Name string
	// New returns a client that sends its requests through hc.
	New func(env *Env, hc *http.Client) Client
}

// The clients compared. A program that names only one of them links only
// that one (ckchild does, so that its memory is that client's).
var (
	CertkeeperKind = Kind{Name: "certkeeper", New: newCertkeeper}
	XCryptoKind    = Kind{Name: xcryptoName, New: newXCrypto}
	AcmezKind      = Kind{Name: "acmez", New: newAcmez}
)

const xcryptoName = "x/crypto/acme"

// Kinds are the clients compared, certkeeper first.
var Kinds = []Kind{CertkeeperKind, XCryptoKind, AcmezKind}

// Result is what one scenario measured for one client.
type Result struct {
	Client   string
	Scenario string
	// Certs is the number of certificates obtained; Names the number of
	// names on each.
	Certs, Names int
	// Concurrency is the number of orders in flight at once.
	Concurrency int
	// Elapsed is the wall time of the timed part.
	Elapsed time.Duration
	// Reqs counts the HTTP requests to the CA in the timed part.
	Reqs Snapshot
	// Latencies are the durations of the individual Obtain calls (plus
	// NewAccount in RunFresh), sorted.
	Latencies []time.Duration
	// PeakRSS is the peak resident set size, in bytes, of the process
	// that ran the scenario alone (ckbench runs each in a child process,
	// which reads its own VmHWM at the end); 0 when not measured.
	PeakRSS int64
	// StartRSS is the resident set size, in bytes, of that process just
	// before the scenario started (the Go runtime and the program loaded,
	// nothing sent yet), so that PeakRSS-StartRSS is what the run added;
	// 0 when not measured.
	StartRSS int64
	// HeapAlloc is the heap memory, in bytes, that the process allocated
	// during the scenario (runtime/metrics /gc/heap/allocs:bytes, garbage
	// included); 0 when not measured.
	HeapAlloc uint64
	// GoMemory is the memory the Go runtime of that process had mapped
	// at the end (runtime/metrics /memory/classes/total:bytes); 0 when
	// not measured.
	GoMemory uint64
}

// Latency returns the q-quantile (0 ≤ q ≤ 1) of Latencies.
func (r Result) Latency(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.Latencies)-1) + 0.5)
	return r.Latencies[min(max(i, 0), len(r.Latencies)-1)]
}

// PerCert is the wall time per certificate.
func (r Result) PerCert() time.Duration { return r.Elapsed / time.Duration(max(r.Certs, 1)) }

// ReqsPerCert is the number of requests per certificate.
func (r Result) ReqsPerCert() float64 { return float64(r.Reqs.Total) / float64(max(r.Certs, 1)) }

var seq atomic.Int64

// SetNameBase makes Names count on from base, so that processes given
// distinct bases never use the same names.
func SetNameBase(base int64) { seq.Store(base) }

// Names returns k fresh names, never used before in this process (so no
// authorization can be reused): "c42.example.test" for one name,
// "n1.c42.bench.example.com", "n2.c42..." for several.
func Names(k int) []string {
	n := seq.Add(1)
	if k == 1 {
		return []string{fmt.Sprintf("c%d.example.test", n)}
	}
	out := make([]string, k)
	for i := range out {
		out[i] = fmt.Sprintf("n%d.c%d.bench.example.com", i+1, n)
	}
	return out
}

// RunFresh obtains n certificates of one name one after the other, each
// with a new client (new connections, no cached directory or nonces) and
// a new account. Account creation is timed and counted. start, if not
// nil, is called just before the timed part.
func RunFresh(ctx context.Context, env *Env, kind Kind, n int, start func()) (Result, error) {
	return RunFreshNames(ctx, env, kind, n, 1, start)
}

// RunFreshNames is RunFresh with k names on each certificate.
func RunFreshNames(ctx context.Context, env *Env, kind Kind, n, k int, start func()) (Result, error) {
	res := Result{Client: kind.Name, Scenario: "fresh account", Certs: n, Names: k, Concurrency: 1}
	counter := &Counter{}
	if start != nil {
		start()
	}
	t0 := time.Now()
	for range n {
		t1 := time.Now()
		c := kind.New(env, env.HTTPClient(counter))
		if err := c.NewAccount(ctx); err != nil {
			return res, fmt.Errorf("%s: new account: %w", kind.Name, err)
		}
		names := Names(k)
		leaf, err := c.Obtain(ctx, names)
		if err != nil {
			return res, fmt.Errorf("%s: obtain %v: %w", kind.Name, names, err)
		}
		if err := checkLeaf(leaf, names); err != nil {
			return res, fmt.Errorf("%s: %w", kind.Name, err)
		}
		res.Latencies = append(res.Latencies, time.Since(t1))
	}
	res.Elapsed = time.Since(t0)
	slices.Sort(res.Latencies)
	res.Reqs = counter.Snapshot()
	return res, nil
}

// RunBatch registers one account (not timed, not counted), then obtains n
// certificates of k names each, at most conc at once, all with the same
// client and account. start, if not nil, is called just before the timed
// part.
func RunBatch(ctx context.Context, env *Env, kind Kind, n, conc, k int, start func()) (Result, error) {
	res := Result{Client: kind.Name, Certs: n, Names: k, Concurrency: conc}
	counter := &Counter{}
	c := kind.New(env, env.HTTPClient(counter))
	if err := c.NewAccount(ctx); err != nil {
		return res, fmt.Errorf("%s: new account: %w", kind.Name, err)
	}
	counter.Reset()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan []string, n)
	for range n {
		jobs <- Names(k)
	}
	close(jobs)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		latMu    sync.Mutex
	)
	if start != nil {
		start()
	}
	t0 := time.Now()
	for range min(conc, n) {
		wg.Go(func() {
			for names := range jobs {
				if ctx.Err() != nil {
					return
				}
				t1 := time.Now()
				leaf, err := c.Obtain(ctx, names)
				if err == nil {
					err = checkLeaf(leaf, names)
				}
				d := time.Since(t1)
				latMu.Lock()
				res.Latencies = append(res.Latencies, d)
				latMu.Unlock()
				if err != nil {
					errOnce.Do(func() {
						firstErr = fmt.Errorf("%s: obtain %v: %w", kind.Name, names, err)
						cancel()
					})
					return
				}
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(t0)
	slices.Sort(res.Latencies)
	res.Reqs = counter.Snapshot()
	return res, firstErr
}

func checkLeaf(leaf *x509.Certificate, names []string) error {
	if leaf == nil {
		return fmt.Errorf("no certificate for %v", names)
	}
	got := slices.Sorted(slices.Values(leaf.DNSNames))
	want := slices.Sorted(slices.Values(names))
	if !slices.Equal(got, want) {
		return fmt.Errorf("certificate names %v, want %v", got, want)
	}
	return nil
}
