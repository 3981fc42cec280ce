package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/cmd/certkeeper/command"
	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/etcdstore"
	"github.com/certkeeper/certkeeper/store/etcdstore/etcdtest"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDaemons runs two "certkeeper run" daemons of this binary on one
// etcd cluster, as two machines would: one account, one order, both
// serve the certificate, the challenge answered by whichever daemon
// Pebble reaches (only the first listens where Pebble validates).
func TestDaemons(t *testing.T) {
	c := etcdtest.New(t, 3)
	p := acmetest.NewTestPebble(t, acmetest.PebbleOptions{})
	dir := t.TempDir()
	root := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(root, p.TLSRootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("unused\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	other := l.Addr().String()
	l.Close()
	var eps []string
	for _, e := range c.Endpoints() {
		eps = append(eps, fmt.Sprintf("%q", e))
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var logs [2]syncBuffer
	done := make(chan int, 2)
	for i, listen := range []string{fmt.Sprintf("127.0.0.1:%d", p.HTTPPort), other} {
		path := filepath.Join(dir, fmt.Sprintf("c%d.toml", i))
		cfg := fmt.Sprintf(`ca = %q
ca-root = %q
email = "admin@example.test"
agree-tos = true
store-backend = "etcd"
[etcd]
endpoints = [%s]
prefix = "daemons/"
lock-ttl = "3s"
[renewal]
check-interval = "1s"
backoff = ["1s"]
[solvers]
http-listen = %q
[[certificate]]
domains = ["one.example.test"]
[[certificate]]
domains = ["two.example.test", "www.two.example.test"]
`, p.DirectoryURL, root, strings.Join(eps, ", "), listen)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		go func() {
			// The backends of the certkeeper binary.
			done <- command.Main(ctx, []string{"run", "-config", path}, command.Env{Stdout: &logs[i], Stderr: &logs[i]})
		}()
		if i == 0 {
			// Pebble must find the first daemon's server up when the
			// second daemon orders.
			for ctx.Err() == nil && !strings.Contains(logs[0].String(), "answering challenges from the shared store") {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	deadline := time.Now().Add(45 * time.Second)
	for strings.Count(logs[0].String()+logs[1].String(), "first pass done: every certificate is valid") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("daemons not ready:\n%s\n---\n%s", logs[0].String(), logs[1].String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	for range 2 {
		if code := <-done; code != command.ExitOK {
			t.Errorf("exit code %d", code)
		}
	}
	st, err := etcdstore.Open(etcdstore.Config{Endpoints: c.Endpoints(), Prefix: "daemons/"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	certs := store.Certs{Store: st}
	accts, err := certs.ListAccounts(context.Background(), p.DirectoryURL)
	if err != nil || len(accts) != 1 {
		t.Errorf("%d accounts (%v), want 1", len(accts), err)
	}
	res, err := certs.ListCertificates(context.Background(), p.DirectoryURL)
	if err != nil || len(res) != 2 {
		t.Errorf("%d certificates (%v), want 2", len(res), err)
	}
	all := logs[0].String() + logs[1].String()
	if n := strings.Count(all, "certificate obtained"); n != 2 {
		t.Errorf("%d orders between the two daemons, want 2:\n%s", n, all)
	}
}
