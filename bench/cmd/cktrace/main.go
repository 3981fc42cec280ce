// Command cktrace traces orders request by request against a local Pebble:
// for each order, when every ACME request left and its answer came back
// (at the client's transport), and when Pebble fetched the http-01
// responses it validates. It is how the "request by request" section of
// docs/benchmarks.md was measured:
//
//	go run ./cmd/cktrace -n 40 -show 1          # 10 names, a new client and account each time (scenario 3f)
//	go run ./cmd/cktrace -client x/crypto/acme  # the same for another client
//
// Each line of a timeline is: start and end in ms from the order's start,
// (duration, gap since the previous answer) and the request; lines
// starting "<<" are Pebble's validation fetches.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certkeeper/certkeeper/bench"
)

type event struct {
	start, end time.Duration
	what       string
}

// tracer records the events of one order at a time.
type tracer struct {
	mu     sync.Mutex
	base   time.Time
	events []event
}

func (t *tracer) add(start, end time.Time, what string) {
	t.mu.Lock()
	t.events = append(t.events, event{start.Sub(t.base), end.Sub(t.base), what})
	t.mu.Unlock()
}

func (t *tracer) reset() {
	t.mu.Lock()
	t.events, t.base = nil, time.Now()
	t.mu.Unlock()
}

// traced is an http.RoundTripper that records every exchange.
type traced struct {
	next http.RoundTripper
	tr   *tracer
}

func (r traced) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := r.next.RoundTrip(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	r.tr.add(start, time.Now(), fmt.Sprintf("%s %s %d", req.Method, bench.Endpoint(req), status))
	return resp, err
}

func main() {
	var (
		n      = flag.Int("n", 20, "orders")
		k      = flag.Int("k", 10, "names per order")
		fresh  = flag.Bool("fresh", true, "a new client and account for every order (false: one account, as scenario 3)")
		show   = flag.Int("show", 3, "print the timelines of the last `N` orders")
		client = flag.String("client", "certkeeper", "client: certkeeper, x/crypto/acme or acmez")
	)
	flag.Parse()
	var kind bench.Kind
	for _, c := range bench.Kinds {
		if c.Name == *client {
			kind = c
		}
	}
	if kind.New == nil {
		log.Fatalf("unknown client %q", *client)
	}
	ctx := context.Background()
	env, err := bench.StartEnv(ctx, bench.EnvOptions{NoResponder: true})
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	tr := &tracer{}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(env.HTTPPort)))
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		env.Challenges.ServeHTTP(w, r)
		tr.add(start, time.Now(), "<< Pebble fetches an http-01 response")
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	var totals []time.Duration
	phases := map[string][]time.Duration{}
	var c bench.Client
	for i := range *n {
		hc := env.HTTPClient(&bench.Counter{})
		hc.Transport = traced{hc.Transport, tr}
		tr.reset()
		start := time.Now()
		if *fresh || c == nil {
			c = kind.New(env, hc)
			if err := c.NewAccount(ctx); err != nil {
				log.Fatal(err)
			}
		}
		account := time.Since(start)
		if _, err := c.Obtain(ctx, bench.Names(*k)); err != nil {
			log.Fatal(err)
		}
		d := time.Since(start)
		totals = append(totals, d)
		tr.mu.Lock()
		events := slices.Clone(tr.events)
		tr.mu.Unlock()
		slices.SortFunc(events, func(a, b event) int { return int(a.start - b.start) })
		for name, p := range phasesOf(events, d) {
			phases[name] = append(phases[name], p)
		}
		if i < *n-*show {
			continue
		}
		requests := 0
		for _, e := range events {
			if !strings.HasPrefix(e.what, "<<") {
				requests++
			}
		}
		fmt.Printf("--- order %d: %v (account %v), %d requests\n", i, d.Round(10*time.Microsecond), account.Round(10*time.Microsecond), requests)
		var last time.Duration
		for _, e := range events {
			fmt.Printf("%7.2f %7.2f  (%5.2f, gap %5.2f) %s\n", ms(e.start), ms(e.end), ms(e.end-e.start), ms(e.start-last), e.what)
			if !strings.HasPrefix(e.what, "<<") {
				last = max(last, e.end)
			}
		}
	}
	fmt.Printf("\nMedian of each step over %d orders (a step's medians do not add up to the total's):\n\n| Step | Median |\n|---|---:|\n", len(totals))
	for _, name := range phaseNames {
		ds := phases[name]
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		if name == "requests" { // counted in ms units
			fmt.Printf("| %s | %.0f |\n", name, ms(ds[len(ds)/2]))
			continue
		}
		fmt.Printf("| %s | %.2f ms |\n", name, ms(ds[len(ds)/2]))
	}
	slices.Sort(totals)
	fmt.Printf("%d orders of %d names: min %v, p50 %v, max %v\n", len(totals), *k, totals[0].Round(10*time.Microsecond),
		totals[len(totals)/2].Round(10*time.Microsecond), totals[len(totals)-1].Round(10*time.Microsecond))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// The steps of an order, in the order they happen.
var phaseNames = []string{
	"new client: directory, newNonce, newAccount",
	"newOrder",
	"authorizations fetched",
	"challenges answered",
	"last challenge answer → first look (finalize, or order poll)",
	"a look missed: order polls until ready",
	"finalize",
	"finalize answer → next order poll",
	"order polls until valid, certificate",
	"after the certificate (checks, clean-up)",
	"requests",
	"total",
}

// phasesOf splits one order's events into the steps of phaseNames (a step
// an order does not have is left out).
func phasesOf(events []event, total time.Duration) map[string]time.Duration {
	var reqs []event
	for _, e := range events {
		if !strings.HasPrefix(e.what, "<<") {
			reqs = append(reqs, e)
		}
	}
	endpoint := func(e event) string { return strings.Fields(e.what)[1] }
	last := func(ep string, before time.Duration) (event, bool) {
		var found event
		ok := false
		for _, e := range reqs {
			if endpoint(e) == ep && e.start < before {
				found, ok = e, true
			}
		}
		return found, ok
	}
	first := func(ep string, after time.Duration) (event, bool) {
		for _, e := range reqs {
			if endpoint(e) == ep && e.start >= after {
				return e, true
			}
		}
		return event{}, false
	}
	out := map[string]time.Duration{"requests": time.Duration(len(reqs)) * time.Millisecond, "total": total}
	inf := time.Duration(1 << 62)
	no, ok1 := first("newOrder", 0)
	// fin is the finalize the CA accepted; one sent before the order was
	// ready is refused (403 orderNotReady) and counts as a look.
	var fin event
	ok2 := false
	for _, e := range reqs {
		if endpoint(e) == "finalize" && strings.HasSuffix(e.what, " 200") {
			fin, ok2 = e, true
			break
		}
	}
	cert, ok3 := last("cert", inf)
	lastAuthz, ok4 := last("authz", fin.start)
	lastChal, ok5 := last("challenge", fin.start)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return out
	}
	if acct, ok := first("newAccount", 0); ok {
		out[phaseNames[0]] = acct.end
	}
	out[phaseNames[1]] = no.end - no.start
	out[phaseNames[2]] = lastAuthz.end - no.end
	out[phaseNames[3]] = lastChal.end - lastAuthz.end
	look := fin
	for _, e := range reqs {
		if ep := endpoint(e); (ep == "order" || ep == "finalize") && e.start >= lastChal.end {
			look = e
			break
		}
	}
	out[phaseNames[4]] = look.start - lastChal.end
	out[phaseNames[6]] = fin.end - fin.start
	if look.start < fin.start {
		ready, _ := last("order", fin.start)
		out[phaseNames[5]] = ready.end - look.start
	}
	if p, ok := first("order", fin.end); ok {
		out[phaseNames[7]] = p.start - fin.end
		out[phaseNames[8]] = cert.end - p.start
	}
	out[phaseNames[9]] = total - cert.end
	return out
}
