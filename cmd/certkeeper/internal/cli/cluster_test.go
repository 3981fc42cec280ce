package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/cmd/certkeeper/internal/config"
	"github.com/certkeeper/certkeeper/store"
)

// A backend the binary does not have is named in the error, at start and
// under -check.
func TestDaemonUnknownBackend(t *testing.T) {
	cfg := `ca = "https://127.0.0.1:1/dir"
store-backend = "consul"
[consul]
address = "127.0.0.1:8500"
[solvers]
http-listen = "127.0.0.1:0"
[[certificate]]
domains = ["a.example.test"]
`
	path := writeConfig(t, cfg)
	for _, args := range [][]string{{"run", "-config", path}, {"run", "-check", "-config", path}} {
		r := runEnv(t.Context(), Env{Backends: []store.Backend{memBackend{}}}, args...)
		if r.code == ExitOK || !strings.Contains(r.stderr, `"consul": this certkeeper binary does not know it`) {
			t.Errorf("%v: exit %d, stderr %q; want a failure naming the backend", args, r.code, r.stderr)
		}
	}
}

// memBackend is a store.Backend named "etcd" over a Memory store, with a
// table of its own: prefix and lock_ttl, prefix required.
type memBackend struct {
	st     store.Store
	opened *atomic.Int32
}

type memBackendConfig struct {
	Prefix  string          `toml:"prefix"`
	LockTTL config.Duration `toml:"lock-ttl"`
}

func (memBackend) Name() string { return "etcd" }

func (memBackend) Check(decode func(any) error) error {
	var c memBackendConfig
	if err := decode(&c); err != nil {
		return err
	}
	if c.Prefix == "" {
		return errors.New("prefix: required")
	}
	return nil
}

func (b memBackend) Open(ctx context.Context, decode func(any) error) (store.Store, error) {
	var c memBackendConfig
	if err := decode(&c); err != nil {
		return nil, err
	}
	if c.Prefix != "test/" || c.LockTTL.D() != 5*time.Second {
		return nil, fmt.Errorf("unexpected config %+v", c)
	}
	b.opened.Add(1)
	return b.st, nil
}

// The backend's own table is checked by the backend: under -check, an
// unknown key and a missing required one are reported with the table's
// name.
func TestDaemonCheckBackendTable(t *testing.T) {
	cfg := `ca = "https://127.0.0.1:1/dir"
store-backend = "etcd"
[etcd]
lock-ttl = "5s"
[solvers]
http-listen = "127.0.0.1:0"
[[certificate]]
domains = ["a.example.test"]
`
	r := runEnv(t.Context(), Env{Backends: []store.Backend{memBackend{}}}, "run", "-check", "-config", writeConfig(t, cfg))
	if r.code == ExitOK || !strings.Contains(r.stderr, "etcd: prefix: required") {
		t.Errorf("exit %d, stderr %q; want etcd: prefix: required", r.code, r.stderr)
	}
}

// TestDaemonSharedStore runs two daemons on one shared store (a Memory
// store standing in for etcd through Env.Backends): they register one
// account between them, and the challenges of whichever orders are
// answered by the first daemon's http-01 and tls-alpn-01 servers, the
// only ones Pebble reaches.
func TestDaemonSharedStore(t *testing.T) {
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	shared := store.NewMemory()
	var opened atomic.Int32
	backends := []store.Backend{memBackend{st: shared, opened: &opened}}
	otherHTTP, otherTLS := freeAddr(t), freeAddr(t)
	ctx := t.Context()
	var daemons [2]*runningCmd
	for i, listen := range [][2]string{{e.httpAddr(), fmt.Sprintf("127.0.0.1:%d", e.pebble.TLSPort)}, {otherHTTP, otherTLS}} {
		cfg := fmt.Sprintf(`ca = %q
ca-root = %q
email = "admin@example.test"
agree-tos = true
store-backend = "etcd"
[etcd]
prefix = "test/"
lock-ttl = "5s"
[renewal]
check-interval = "1s"
backoff = ["1s"]
[solvers]
http-listen = %q
tls-listen = %q
[[certificate]]
domains = ["shared.example.test"]
challenges = ["http-01"]
[[certificate]]
domains = ["alpn.example.test"]
challenges = ["tls-alpn-01"]
`, e.pebble.DirectoryURL, e.root, listen[0], listen[1])
		daemons[i] = startCLI(t, Env{Backends: backends}, "run", "-config", writeConfig(t, cfg))
		if i == 0 {
			// Pebble must find the first daemon's servers up when the
			// second daemon orders.
			eventually(t, 30*time.Second, "the first daemon's challenge servers", func() bool {
				return strings.Count(daemons[0].log.String(), "answering challenges from the shared store") == 2
			})
		}
	}
	certs := store.Certs{Store: shared}
	eventually(t, 45*time.Second, "the certificates in the shared store", func() bool {
		_, err1 := certs.LoadCertificate(ctx, e.pebble.DirectoryURL, "shared.example.test")
		_, err2 := certs.LoadCertificate(ctx, e.pebble.DirectoryURL, "alpn.example.test")
		return err1 == nil && err2 == nil
	})
	eventually(t, 10*time.Second, "both daemons to hold it", func() bool {
		return strings.Contains(daemons[0].log.String()+daemons[1].log.String(), "first pass done: every certificate is valid") &&
			strings.Count(daemons[0].log.String()+daemons[1].log.String(), "first pass done") == 2
	})
	for _, d := range daemons {
		d.stop(t)
	}
	accts, err := certs.ListAccounts(context.Background(), e.pebble.DirectoryURL)
	if err != nil || len(accts) != 1 {
		t.Errorf("%d accounts in the shared store (%v), want 1", len(accts), err)
	}
	if opened.Load() != 2 {
		t.Errorf("store opened %d times, want once per daemon", opened.Load())
	}
	for i := range daemons {
		if !strings.Contains(daemons[i].log.String(), "answering challenges from the shared store") {
			t.Errorf("daemon %d did not serve challenges from the shared store:\n%s", i, daemons[i].log.String())
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("daemon 0:\n%s\ndaemon 1:\n%s", daemons[0].log.String(), daemons[1].log.String())
	}
}
