// Package etcdtest starts a real etcd cluster of local processes (the etcd
// binary on PATH, such as Debian's etcd-server package) on free loopback
// ports, for tests of the etcd store and of certkeeper in cluster mode.
package etcdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Member is one etcd process.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	dir       string
	log       *syncWriter

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Cluster is a running etcd cluster.
type Cluster struct {
	Members []*Member
}

// Find returns the path of the etcd binary, or an error saying how to
// install it.
func Find() (string, error) {
	for _, p := range []string{"etcd", "/usr/bin/etcd", "/usr/local/bin/etcd"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", errors.New("etcdtest: no etcd binary; install it with " +
		"`apt-get install -y --no-install-recommends etcd-server etcd-client`")
}

// New starts a cluster of n members for t and stops it when t ends.
// Under go test -short t is skipped (integration tier: etcd is an
// external process). If etcd is not installed, t is skipped, unless the
// environment has CI=true: then it fails.
func New(t testing.TB, n int) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration tier (starts etcd, an external process): skipped under -short")
	}
	bin, err := Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	var c *Cluster
	for attempt := 1; ; attempt++ {
		c, err = start(t, bin, n)
		if err == nil || attempt == 3 {
			break
		}
		t.Logf("etcdtest: attempt %d: %v", attempt, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func start(t testing.TB, bin string, n int) (*Cluster, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	base := t.TempDir()
	var initial []string
	for i := range n {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			dir:       filepath.Join(base, fmt.Sprintf("m%d", i)),
			log:       &syncWriter{w: &bytes.Buffer{}},
		}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for _, m := range c.Members {
		cmd := exec.Command(bin,
			"--name", m.Name, "--data-dir", m.dir,
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", filepath.Base(base),
			// Fast elections, so that losing the leader costs well under
			// a second.
			"--heartbeat-interval", "50", "--election-timeout", "500",
			"--logger", "zap", "--log-outputs", "stderr")
		cmd.Stdout, cmd.Stderr = m.log, m.log
		if err := cmd.Start(); err != nil {
			c.stop()
			return nil, err
		}
		m.cmd, m.done = cmd, make(chan struct{})
		go func() { _ = cmd.Wait(); close(m.done) }()
	}
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			for _, m := range c.Members {
				s := m.log.String()
				if len(s) > 4096 {
					s = s[len(s)-4096:]
				}
				t.Logf("etcd %s log tail:\n%s", m.Name, s)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cli, err := c.Client()
	if err != nil {
		c.stop()
		return nil, err
	}
	defer cli.Close()
	for {
		if _, err := cli.Put(ctx, "etcdtest/ready", "1"); err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			c.stop()
			return nil, fmt.Errorf("etcdtest: cluster not ready within 20 s")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Endpoints returns the client URLs of every member.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

// Client returns a new client of every member, with logging off. The
// caller closes it.
func (c *Cluster) Client() (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialKeepAliveTime: time.Second, DialKeepAliveTimeout: time.Second,
	})
}

// Leader returns the index of the member that is leader now.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	cli, err := c.Client()
	if err != nil {
		return -1, err
	}
	defer cli.Close()
	for i, m := range c.Members {
		if !m.Running() {
			continue
		}
		st, err := cli.Status(ctx, m.ClientURL)
		if err != nil {
			continue
		}
		if st.Leader == st.Header.MemberId {
			return i, nil
		}
	}
	return -1, errors.New("etcdtest: no leader")
}

// Running reports whether the member's process is running.
func (m *Member) Running() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// Kill stops the member with SIGKILL and waits for it to exit.
func (m *Member) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || !m.Running() {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
}

func (c *Cluster) stop() {
	for _, m := range c.Members {
		if m.cmd != nil {
			m.Kill()
		}
	}
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
