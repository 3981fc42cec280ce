package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/solver/shared"
	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/etcdstore"
	"github.com/certkeeper/certkeeper/store/etcdstore/etcdtest"
)

// instance is one certkeeper process of a cluster test: its own etcd
// client, ACME client, shared-store solver and Manager.
type instance struct {
	id     int
	st     *etcdstore.Store
	client *acme.Client
	sol    *shared.Solver
	m      *manager.Manager
	issuer *issue.Issuer

	newOrders atomic.Int64 // 201 answers to newOrder
	requests  atomic.Int64 // every exchange with the CA
	ordersMu  sync.Mutex
	orderedBy map[string]int // name → newOrder requests, from the Present side

	cancel context.CancelFunc
	done   chan struct{}
}

// harness is a cluster test: etcd, Pebble, and instances.
type harness struct {
	t       testing.TB
	etcd    *etcdtest.Cluster
	pebble  *acmetest.Pebble
	account acme.Account
	prefix  string
	lockTTL time.Duration
	// block, if set, is consulted in Present: returning true makes the
	// solver of that instance block until its context is done.
	block func(inst int, chal acme.Challenge) bool
	// presenting receives the context of a blocked Present.
	presenting chan context.Context
	insts      []*instance
	// fp, if set, stands between the instances and Pebble.
	fp *acmetest.FaultProxy
	// wrap, if set, wraps the transport of each instance's ACME client.
	wrap func(inst int, rt http.RoundTripper) http.RoundTripper
}

func newHarness(t testing.TB, members int, lockTTL time.Duration) *harness {
	h := &harness{t: t, etcd: etcdtest.New(t, members), lockTTL: lockTTL, prefix: "ck-" + strconv.Itoa(os.Getpid()), presenting: make(chan context.Context, 4)}
	h.pebble = acmetest.NewTestPebble(t, acmetest.PebbleOptions{})
	return h
}

// register makes the one account every instance uses, as the daemon
// shares it through the store.
func (h *harness) register(dirURL string, hc *http.Client) {
	c := &acme.Client{DirectoryURL: dirURL, HTTPClient: hc}
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		h.t.Fatal(err)
	}
	h.account, err = c.NewAccount(context.Background(), acme.Account{Key: key, TermsOfServiceAgreed: true})
	if err != nil {
		h.t.Fatal(err)
	}
}

// blockingSolver is the shared solver of one instance, which can be told
// to hang in Present as a process that froze or died mid-order would.
type blockingSolver struct {
	h    *harness
	inst *instance
}

func (b blockingSolver) Present(ctx context.Context, chal acme.Challenge) error {
	if b.h.block != nil && b.h.block(b.inst.id, chal) {
		b.h.presenting <- ctx
		<-ctx.Done()
		return ctx.Err()
	}
	b.inst.ordersMu.Lock()
	b.inst.orderedBy[chal.Identifier.Value]++
	b.inst.ordersMu.Unlock()
	return b.inst.sol.Present(ctx, chal)
}

func (b blockingSolver) CleanUp(ctx context.Context, chal acme.Challenge) error {
	return b.inst.sol.CleanUp(ctx, chal)
}

// addInstance starts one instance: store, ACME client, Manager.Run.
func (h *harness) addInstance(concurrency int) *instance {
	t := h.t
	st, err := etcdstore.Open(etcdstore.Config{
		Endpoints: h.etcd.Endpoints(), Prefix: h.prefix,
		Options: etcdstore.Options{LockTTL: h.lockTTL},
	})
	if err != nil {
		t.Fatal(err)
	}
	inst := &instance{id: len(h.insts), st: st, orderedBy: map[string]int{}, done: make(chan struct{})}
	dirURL, hc := h.pebble.DirectoryURL, h.pebble.HTTPClient()
	if h.fp != nil {
		dirURL, hc = h.fp.URL, h.fp.HTTPClient()
	}
	if h.account.URL == "" {
		h.register(dirURL, hc)
	}
	if h.wrap != nil {
		rt := hc.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		hc = &http.Client{Transport: h.wrap(len(h.insts), rt), Timeout: hc.Timeout}
	}
	inst.client = &acme.Client{
		DirectoryURL: dirURL, HTTPClient: hc,
		OnRequest: func(ri acme.RequestInfo) {
			inst.requests.Add(1)
			if ri.Endpoint == "newOrder" && ri.Status == http.StatusCreated {
				inst.newOrders.Add(1)
			}
			if ri.Endpoint == "newOrder" && os.Getenv("CLUSTER_LOG") != "" {
				fmt.Fprintf(os.Stderr, "NEWORDER inst=%d status=%d err=%v dur=%v\n", inst.id, ri.Status, ri.Err, ri.Duration)
			}
		},
	}
	inst.sol = &shared.Solver{Store: st}
	inst.issuer = &issue.Issuer{Client: inst.client, Account: h.account, Solvers: map[acme.ChallengeType]challenge.Solver{
		acme.ChallengeHTTP01: blockingSolver{h: h, inst: inst},
	}}
	inst.m, err = manager.New(manager.Config{
		Store:       st,
		Concurrency: concurrency,
		Logger:      testLogger(t, inst.id),
		Backoff:     []time.Duration{2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	inst.cancel = cancel
	go func() {
		defer close(inst.done)
		_ = inst.m.Run(ctx)
	}()
	go func() { _ = inst.sol.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-inst.done
		st.Close()
	})
	h.insts = append(h.insts, inst)
	return inst
}

// serveHTTP01 serves Pebble's http-01 port from inst's shared solver
// only: a challenge presented by any other instance is answered by this
// one.
func (h *harness) serveHTTP01(inst *instance) {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(h.pebble.HTTPPort)))
	if err != nil {
		h.t.Fatal(err)
	}
	srv := &http.Server{Handler: inst.sol.HTTPHandler(nil), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	h.t.Cleanup(func() { srv.Close() })
}

// kill makes inst vanish as a killed process would: its etcd connection
// closes without releasing its locks (so its lease runs out), then its
// goroutines stop.
func (h *harness) kill(inst *instance) {
	inst.st.Client().Close()
	inst.cancel()
	<-inst.done
}

func (h *harness) manage(ctx context.Context, inst *instance, names []string) {
	certs := make([]manager.Spec, len(names))
	for i, n := range names {
		ids, err := issue.ParseIdentifiers(n)
		if err != nil {
			h.t.Fatal(err)
		}
		certs[i] = manager.Spec{Identifiers: ids, Issuer: inst.issuer}
	}
	if err := inst.m.Manage(ctx, certs...); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) newOrders() (total int64) {
	for _, inst := range h.insts {
		total += inst.newOrders.Load()
	}
	return total
}

func (h *harness) requests() (total int64) {
	for _, inst := range h.insts {
		total += inst.requests.Load()
	}
	return total
}

func names(n int, tag string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("n%03d.%s.test", i, tag)
	}
	return out
}

// status returns inst's status of the certificate name, nil if it has none.
func status(inst *instance, name string) *manager.Status {
	for _, st := range inst.m.Status() {
		if st.Name == name {
			return &st
		}
	}
	return nil
}

// poll reports whether cond held before ctx ended, asking every 10 ms.
func poll(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}

// testLogger logs warnings and errors through t when CLUSTER_LOG is set.
func testLogger(t testing.TB, id int) *slog.Logger {
	if os.Getenv("CLUSTER_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: map[bool]slog.Level{true: slog.LevelDebug, false: slog.LevelInfo}[os.Getenv("CLUSTER_LOG") == "debug"]})).With("instance", id)
}

// TestCluster runs three instances against Pebble and a three-member
// etcd cluster:
//
//  1. 200 certificates, every instance managing all of them, with the
//     etcd leader killed mid-run: each is ordered exactly once, all three
//     instances serve all of them, and orders placed by instances 1 and 2
//     were validated through instance 0's HTTP server.
//  2. An instance killed while it holds a certificate's lock mid-order:
//     another completes the order once the lease runs out, and the dead
//     instance's late write is refused.
func TestCluster(t *testing.T) {
	const n = 200
	h := newHarness(t, 3, 2*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	for range 3 {
		h.addInstance(8)
	}
	h.serveHTTP01(h.insts[0])
	ns := names(n, "cluster")

	start := time.Now()
	for _, inst := range h.insts {
		h.manage(ctx, inst, ns)
	}
	// Kill the etcd leader once a quarter of the certificates are in.
	killed := make(chan string, 1)
	go func() {
		for ctx.Err() == nil {
			if h.newOrders() >= n/4 {
				i, err := h.etcd.Leader(ctx)
				if err != nil {
					killed <- "no leader found: " + err.Error()
					return
				}
				h.etcd.Members[i].Kill()
				killed <- fmt.Sprintf("killed leader %s after %d orders, at %v", h.etcd.Members[i].Name, h.newOrders(), time.Since(start).Round(time.Millisecond))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	for _, inst := range h.insts {
		if err := inst.m.Ready(ctx); err != nil {
			t.Fatalf("instance %d: Ready: %v", inst.id, err)
		}
	}
	elapsed := time.Since(start)
	select {
	case msg := <-killed:
		t.Log(msg)
	default:
		t.Error("the etcd leader was not killed during the run")
	}
	t.Logf("%d certificates on 3 instances in %v: %d newOrder, %d ACME requests", n, elapsed.Round(time.Millisecond), h.newOrders(), h.requests())
	if got := h.newOrders(); got != n {
		t.Errorf("%d orders placed for %d certificates; want exactly one each", got, n)
		presented := map[string][]int{}
		for _, inst := range h.insts {
			inst.ordersMu.Lock()
			for name, c := range inst.orderedBy {
				for range c {
					presented[name] = append(presented[name], inst.id)
				}
			}
			inst.ordersMu.Unlock()
		}
		for name, by := range presented {
			if len(by) > 1 {
				t.Logf("%s presented by instances %v", name, by)
			}
		}
	}
	for _, inst := range h.insts {
		missing := 0
		for _, name := range ns {
			if inst.m.Lookup(name) == nil {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("instance %d serves %d of %d certificates", inst.id, n-missing, n)
		}
		t.Logf("instance %d placed %d orders", inst.id, inst.newOrders.Load())
	}
	var elsewhere int64
	for _, inst := range h.insts[1:] {
		elsewhere += inst.newOrders.Load()
		for name, c := range inst.orderedBy {
			if c > 1 {
				t.Errorf("instance %d presented %q %d times", inst.id, name, c)
			}
		}
	}
	if elsewhere == 0 {
		t.Error("instances 1 and 2 placed no order: nothing was validated through another instance")
	}
	// Every certificate in the store is whole and matches its key.
	certs := store.Certs{Store: h.insts[0].st}
	stored, err := certs.ListCertificates(ctx, h.pebble.DirectoryURL)
	if err != nil || len(stored) != n {
		t.Errorf("store holds %d certificates (%v), want %d", len(stored), err, n)
	}

	t.Run("HolderKilled", func(t *testing.T) {
		victim := h.insts[2]
		const name = "killed.cluster.test"
		h.block = func(inst int, chal acme.Challenge) bool {
			return inst == victim.id && chal.Identifier.Value == name
		}
		before := h.newOrders()
		h.manage(ctx, victim, []string{name})
		var fenced context.Context
		select {
		case fenced = <-h.presenting:
		case <-ctx.Done():
			t.Fatal("the victim never presented")
		}
		// The others want it too, and find the lock taken: each puts the
		// name off for ClusterBusyRetry.
		for _, inst := range h.insts[:2] {
			h.manage(ctx, inst, []string{name})
		}
		for _, inst := range h.insts[:2] {
			if !poll(ctx, func() bool {
				st := status(inst, name)
				return st != nil && st.NextRenewal.After(time.Now())
			}) {
				t.Fatalf("instance %d never found the lock of %s taken: %+v", inst.id, name, status(inst, name))
			}
		}
		killedAt := time.Now()
		h.kill(victim)
		// The dead holder's write, had it woken up, is refused.
		if err := victim.st.Put(context.WithoutCancel(fenced), "certificates/late", []byte("late")); !errors.Is(err, store.ErrLockLost) {
			t.Errorf("the dead holder's late Put: %v, want ErrLockLost", err)
		}
		for _, inst := range h.insts[:2] {
			if err := inst.m.Ready(ctx); err != nil {
				t.Fatalf("instance %d: Ready: %v", inst.id, err)
			}
			if inst.m.Lookup(name) == nil {
				t.Errorf("instance %d does not serve %s", inst.id, name)
			}
		}
		t.Logf("order completed by a survivor %v after the holder was killed (lock TTL %v)", time.Since(killedAt).Round(time.Millisecond), h.lockTTL)
		// The survivor that takes the dead holder's lock resumes its order
		// (the URL is in the certificate's state), not places another
		// (issue 11, point 8).
		if got := h.newOrders() - before; got != 1 {
			t.Errorf("%d orders for the killed name; want 1 (the dead holder's, finished by a survivor)", got)
		}
		res, err := certs.LoadCertificate(ctx, h.pebble.DirectoryURL, name)
		if err != nil || len(res.ChainPEM) == 0 {
			t.Errorf("stored certificate: %v", err)
		}
	})
}

// TestSharedBackoff: the CA refuses the first order with 429 and a
// Retry-After of 2 minutes. Whichever instance placed it records the backoff
// in the store; the other running instance, which found the lock taken,
// adopts it under the lock instead of ordering, and an instance started
// afterwards loads it: one order in all, and every instance waits for the
// CA's Retry-After.
func TestSharedBackoff(t *testing.T) {
	h := newHarness(t, 3, 2*time.Second)
	h.fp = acmetest.NewTestFaultProxy(t, h.pebble)
	h.fp.SetRules(acmetest.Rule{Method: http.MethodPost, PathPrefix: "/order-plz", Fault: acmetest.Status429RetryAfter,
		Nth: 1, Count: 1, RetryAfter: 2 * time.Minute, ReplayNonce: true}) // more than acme.Client waits itself
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	h.serveHTTP01(h.addInstance(4))
	h.addInstance(4)
	const name = "backoff.cluster.test"
	start := time.Now()
	h.manage(ctx, h.insts[0], []string{name})
	h.manage(ctx, h.insts[1], []string{name})
	for _, inst := range h.insts[:2] {
		if err := inst.m.Ready(ctx); err == nil {
			t.Errorf("instance %d: Ready succeeded; want the CA's refusal", inst.id)
		}
	}
	late := h.addInstance(4)
	h.manage(ctx, late, []string{name})
	if err := late.m.Ready(ctx); err == nil {
		t.Error("the late instance: Ready succeeded; want the recorded failure")
	}
	// Until every instance has the recorded backoff as its own schedule
	// (the one that found the lock taken adopts it through the watch or at
	// its busy retry): none of them looks again before the Retry-After.
	pctx, pcancel := context.WithTimeout(ctx, 4*manager.ClusterBusyRetry)
	defer pcancel()
	poll(pctx, func() bool {
		for _, inst := range h.insts {
			if st := status(inst, name); st == nil || st.Failures != 1 || st.NextRenewal.Before(start.Add(110*time.Second)) {
				return false
			}
		}
		return true
	})
	orders := 0
	for _, r := range h.fp.Requests() {
		if r.Path == "/order-plz" {
			orders++
		}
	}
	if orders != 1 {
		t.Errorf("%d newOrder requests; want 1 (then everyone waits for Retry-After)", orders)
	}
	for _, inst := range h.insts {
		st := inst.m.Status()
		if len(st) != 1 || st[0].Failures != 1 || st[0].NextRenewal.Before(start.Add(110*time.Second)) {
			t.Errorf("instance %d: status %+v; want one failure and the next attempt 2 min on", inst.id, st)
		}
	}
}
