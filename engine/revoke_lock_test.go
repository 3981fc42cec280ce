package engine_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
)

// gate holds an engine at its first ACME request to one endpoint (after
// the CA's answer) until the test opens it: the engine is then in the
// middle of a revocation or an order, holding whatever lock it holds.
type gate struct {
	endpoint string
	once     sync.Once
	reached  chan struct{}
	open     chan struct{}
}

func newGate(endpoint string) *gate {
	return &gate{endpoint: endpoint, reached: make(chan struct{}), open: make(chan struct{})}
}

func (g *gate) onRequest(ri acme.RequestInfo) {
	if ri.Endpoint != g.endpoint {
		return
	}
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.reached)
		<-g.open
	}
}

// logBuffer is an io.Writer for a logger that goroutines share.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lockEngine is an engine over the env's store (a process of its own)
// that counts its revocation requests, runs g's hook if g is not nil,
// and logs at Info to its log.
type lockEngine struct {
	*engine.Engine
	log   *logBuffer
	mu    sync.Mutex
	posts []acme.RequestInfo
}

func (e *env) lockEngine(g *gate) *lockEngine {
	e.t.Helper()
	d, err := store.NewDir(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	le := &lockEngine{log: &logBuffer{}}
	eng, err := engine.New(engine.Config{
		Store: d, Manager: manager.Config{RescueDir: e.rescue},
		Logger: slog.New(slog.NewTextHandler(le.log, &slog.HandlerOptions{Level: slog.LevelInfo})),
		OnRequest: func(ri acme.RequestInfo) {
			if ri.Endpoint == "revokeCert" {
				le.mu.Lock()
				le.posts = append(le.posts, ri)
				le.mu.Unlock()
			}
			if g != nil {
				g.onRequest(ri)
			}
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { eng.Close() })
	le.Engine = eng
	return le
}

func (le *lockEngine) revocations() []acme.RequestInfo {
	le.mu.Lock()
	defer le.mu.Unlock()
	return append([]acme.RequestInfo(nil), le.posts...)
}

const waitLine = "waiting for the store's lock"

// waitsForLock polls until le says it waits for the store's lock (true),
// or done is closed first: it did not wait (false).
func waitsForLock(t *testing.T, le *lockEngine, done <-chan struct{}) bool {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return strings.Contains(le.log.String(), waitLine)
		case <-tick.C:
			if strings.Contains(le.log.String(), waitLine) {
				return true
			}
		case <-t.Context().Done():
			t.Fatal("neither done nor waiting for the store's lock")
		}
	}
}

type revoked struct {
	res engine.RevokeResult
	err error
}

func goRevoke(ctx context.Context, le *lockEngine, req engine.RevokeRequest) (<-chan struct{}, *revoked) {
	done, out := make(chan struct{}), &revoked{}
	go func() {
		defer close(done)
		out.res, out.err = le.Revoke(ctx, req)
	}()
	return done, out
}

// Two revocations of one certificate at once (two "certkeeper revoke"):
// the second waits for the first's lock (saying so), then finds its
// record and answers already revoked without sending anything. Before,
// both read the store before either recorded, and both sent. The same
// holds for a -cert FILE that is one of the store's versions.
func TestRevokeConcurrentSendsOnce(t *testing.T) {
	t.Parallel()
	for _, byFile := range []bool{false, true} {
		t.Run(map[bool]string{false: "name", true: "file"}[byFile], func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := ctxT(t)
			name := map[bool]string{false: "twice.example.test", true: "twicefile.example.test"}[byFile]
			r, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: e.lineage(name), Account: agree})
			if err != nil {
				t.Fatal(err)
			}
			req := engine.RevokeRequest{Name: name, Reason: acme.ReasonSuperseded}
			if byFile {
				rec, err := e.engine(nil).Certs().LoadCertificate(ctx, e.pebble.DirectoryURL, name)
				if err != nil {
					t.Fatal(err)
				}
				chain, err := keys.ParseCertificates(rec.ChainPEM)
				if err != nil {
					t.Fatal(err)
				}
				req = engine.RevokeRequest{Certificate: chain[0], Reason: acme.ReasonSuperseded}
			}

			// The first is held at its first request to the CA, before
			// it sends the revocation.
			g := newGate("directory")
			first, second := e.lockEngine(g), e.lockEngine(nil)
			done1, out1 := goRevoke(ctx, first, req)
			select {
			case <-g.reached:
			case <-done1:
				t.Fatalf("the first revoke ended without asking the CA: %+v, %v", out1.res, out1.err)
			}
			done2, out2 := goRevoke(ctx, second, req)
			waited := waitsForLock(t, second, done2)
			close(g.open)
			<-done1
			<-done2

			if out1.err != nil || out1.res.AlreadyRevoked || !out1.res.Recorded || out1.res.Serial != r.Serial {
				t.Errorf("first Revoke = %+v, %v; want %s revoked and recorded", out1.res, out1.err, r.Serial)
			}
			if !waited {
				t.Error("the second revoke did not wait for the first's lock")
			} else if l := second.log.String(); !strings.Contains(l, "lock=obtain/") {
				t.Errorf("the line that says the second waits does not name the lock:\n%s", l)
			}
			if res := out2.res; out2.err != nil || !res.AlreadyRevoked || res.Recorded || !res.Stored || res.Serial != r.Serial ||
				!res.At.Equal(out1.res.At) || res.Reason != acme.ReasonSuperseded || res.CurrentSerial != "" {
				t.Errorf("second Revoke = %+v, %v; want already revoked as the store records (at %v), not recorded again", res, out2.err, out1.res.At)
			}
			if p := first.revocations(); len(p) != 1 || p[0].Status != http.StatusOK {
				t.Errorf("the first revoke's requests: %+v, want one answered 200", p)
			}
			if p := second.revocations(); len(p) != 0 {
				t.Errorf("the second revoke sent %d request(s) (%+v), want none: the store records it", len(p), p)
			}
			if st, reason := e.caStatus(r.Serial); st != "Revoked" || reason == nil || *reason != int(acme.ReasonSuperseded) {
				t.Errorf("the CA says %s, reason %v; want Revoked, 4", st, reason)
			}
		})
	}
}

// A revoke beside a renewal (the daemon, or "renew -force") of the same
// certificate: the renewal holds the certificate's lock while it orders,
// and the revoke waits for it (saying so). The revoke then revokes the
// certificate that was current when it was asked (A), not the one the
// renewal stored meanwhile (B), and says that B is current and not
// revoked: the store keys a revocation on the serial number, so B stays
// valid and listed as such, and a daemon is not made to renew it again.
// Before, the revoke read A, sent and recorded while the renewal ordered,
// and said nothing of B. With Lineage.ReuseKey and a key compromise, B
// has A's compromised key: it is revoked too, and recorded, so that a
// daemon renews it with a new key.
func TestRevokeWaitsForRenewal(t *testing.T) {
	t.Parallel()
	for _, reuse := range []bool{false, true} {
		t.Run(map[bool]string{false: "newkey", true: "reusekey"}[reuse], func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := ctxT(t)
			name := map[bool]string{false: "beside.example.test", true: "reuse.example.test"}[reuse]
			l := e.lineage(name)
			l.ReuseKey = reuse
			a, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: l, Account: agree})
			if err != nil {
				t.Fatal(err)
			}

			g := newGate("newOrder") // the renewal holds the lock: newOrder is under it
			renewal, rev := e.lockEngine(g), e.lockEngine(nil)
			renewed := make(chan struct{})
			var (
				rs   []engine.Result
				rerr error
			)
			go func() {
				defer close(renewed)
				rs, rerr = renewal.Renew(ctx, engine.RenewOptions{Names: []string{name}, Force: true})
			}()
			select {
			case <-g.reached:
			case <-renewed:
				t.Fatalf("the renewal ended without ordering: %+v, %v", rs, rerr)
			}
			req := engine.RevokeRequest{Name: name}
			if reuse {
				req.Reason, req.WithCertKey = acme.ReasonKeyCompromise, true
			}
			done, out := goRevoke(ctx, rev, req)
			waited := waitsForLock(t, rev, done)
			close(g.open)
			<-renewed
			<-done

			if rerr != nil || len(rs) != 1 || rs[0].Outcome != engine.Renewed || rs[0].Serial == a.Serial {
				t.Fatalf("Renew = %+v, %v; want a new certificate", rs, rerr)
			}
			b := rs[0].Serial
			if !waited {
				t.Error("the revoke did not wait for the renewal's lock")
			}
			if out.err != nil || out.res.Serial != a.Serial || !out.res.Recorded || out.res.AlreadyRevoked || out.res.CurrentSerial != b || out.res.SameKeyRevoked != reuse {
				t.Errorf("Revoke = %+v, %v; want %s (current when asked) revoked and recorded, %s current (revoked too: %v)", out.res, out.err, a.Serial, b, reuse)
			}
			if st, _ := e.caStatus(a.Serial); st != "Revoked" {
				t.Errorf("the CA says %s of the certificate revoked, want Revoked", st)
			}
			wantB := map[bool]string{false: "Valid", true: "Revoked"}[reuse]
			if st, _ := e.caStatus(b); st != wantB {
				t.Errorf("the CA says %s of the renewal's certificate, want %s", st, wantB)
			}
			if en := listed(t, rev.Engine, name); (en.Status == engine.StatusRevoked || en.Revoked != nil) != reuse {
				t.Errorf("List after the revoke: %+v; want %s current, revoked: %v", en, b, reuse)
			}
			said := ""
			for _, line := range strings.Split(rev.log.String(), "\n") {
				if strings.Contains(line, "current_serial="+b) {
					said = line
				}
			}
			switch {
			case said == "":
				t.Errorf("the revoke does not say that %s is now current:\n%s", b, rev.log.String())
			case reuse != strings.Contains(said, "same key") || strings.Contains(said, "level=WARN"):
				t.Errorf("what the revoke says of %s (same key: %v): %s", b, reuse, said)
			}
		})
	}
}

// A revoke waiting for the certificate's lock gives up when its context
// ends, with the context's error, and sends nothing.
func TestRevokeLockWaitHonoursContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	const name = "held.example.test"
	r, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: e.lineage(name), Account: agree})
	if err != nil {
		t.Fatal(err)
	}
	d, err := store.NewDir(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := (&store.Certs{Store: d}).ObtainLock(e.pebble.DirectoryURL, name)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := d.Lock(ctx, lock) // a renewal in another process
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	rev := e.lockEngine(nil)
	short, cancel := context.WithCancel(ctx)
	done, out := goRevoke(short, rev, engine.RevokeRequest{Name: name})
	if !waitsForLock(t, rev, done) {
		t.Fatalf("Revoke did not wait for the lock: %+v, %v", out.res, out.err)
	}
	cancel()
	<-done
	if !errors.Is(out.err, context.Canceled) {
		t.Errorf("Revoke whose context ended while it waited: %v, want context.Canceled", out.err)
	}
	if p := rev.revocations(); len(p) != 0 {
		t.Errorf("%d revocation request(s) sent", len(p))
	}
	if st, _ := e.caStatus(r.Serial); st != "Valid" {
		t.Errorf("the CA says %s, want Valid", st)
	}
}
