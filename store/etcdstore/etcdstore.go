// Package etcdstore is a store.Store on an etcd v3 cluster, for running
// several certkeeper instances that share certificates, accounts,
// challenge tokens and locks (see docs/cluster.md).
//
// It is a module of its own so that the etcd client stays out of the core
// module's dependency graph. Besides store.Store it implements
// store.Watcher (etcd watches) and store.FencedLocker (locks held through
// a lease that a live process keeps alive and that expires when the
// process dies; writes made under a lock are etcd transactions that apply
// only while the lock key still exists with its revision).
//
// Keys are kept under a prefix, "certkeeper/" unless told otherwise, as
// <prefix><key> with the value as it is, so that etcdctl shows them. The
// modification time that Stat returns is kept beside each value under
// <prefix>.mtime/<key>, and locks under <prefix>.locks/<name>/; no store
// key begins with '.', so neither can collide with one.
package etcdstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/certkeeper/certkeeper/store"
)

// Defaults of Options fields left zero.
const (
	DefaultPrefix       = "certkeeper/"
	DefaultLockTTL      = 15 * time.Second
	DefaultMaxValueSize = 1 << 20
	DefaultDialTimeout  = 5 * time.Second
)

// Options tune a Store.
type Options struct {
	// LockTTL is the lease behind every lock this Store takes: how long
	// after this process dies (or loses every etcd member) its locks are
	// released, and so how long others wait to take over an order it
	// started. The lease is kept alive every LockTTL/3. Rounded up to
	// whole seconds; zero means DefaultLockTTL. Lower it for fast
	// takeover, raise it to ride out longer pauses (GC, VM migration,
	// etcd leader elections).
	LockTTL time.Duration
	// MaxValueSize bounds the values Put accepts; zero means
	// DefaultMaxValueSize (1 MiB). etcd refuses requests above its
	// --max-request-bytes (1.5 MiB by default), so raising it needs the
	// server to agree.
	MaxValueSize int
}

// Config says how Open connects to etcd.
type Config struct {
	// Endpoints are the client URLs of the members, such as
	// "https://10.0.0.1:2379". Required.
	Endpoints []string
	// Prefix is put before every key; "" means DefaultPrefix. Give each
	// independent deployment its own.
	Prefix string
	// CAFile is a PEM file of roots to trust for the members' TLS
	// certificates; "" means the system roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key for
	// members that require them.
	CertFile, KeyFile string
	// Username and Password authenticate with etcd's own users.
	Username, Password string
	// DialTimeout bounds connecting, and Open's first request; zero means
	// DefaultDialTimeout.
	DialTimeout time.Duration
	Options
}

// Store is a store.Store on etcd. Make one with New or Open; its methods
// are safe for concurrent use.
type Store struct {
	cli    *clientv3.Client
	prefix string
	opts   Options
	owned  bool // Close closes cli

	mu       sync.Mutex
	session  *concurrency.Session
	local    map[string]chan struct{}          // locks held in this process, closed on release
	revivals map[*concurrency.Session]*revival // sessions that ended, and what revive made of them

	closing  context.Context // done once Close is called
	closeNow context.CancelFunc
}

var (
	_ store.Store        = (*Store)(nil)
	_ store.Watcher      = (*Store)(nil)
	_ store.FencedLocker = (*Store)(nil)
)

// New returns a Store that keeps its keys under prefix ("" means
// DefaultPrefix; a missing trailing slash is added) in the etcd cluster
// that client talks to. The client stays the caller's: Close does not
// close it.
func New(client *clientv3.Client, prefix string, opts Options) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	if opts.LockTTL <= 0 {
		opts.LockTTL = DefaultLockTTL
	}
	if opts.MaxValueSize <= 0 {
		opts.MaxValueSize = DefaultMaxValueSize
	}
	closing, closeNow := context.WithCancel(context.Background())
	return &Store{cli: client, prefix: prefix, opts: opts, local: map[string]chan struct{}{},
		revivals: map[*concurrency.Session]*revival{}, closing: closing, closeNow: closeNow}
}

// Open connects to the etcd cluster of cfg and checks that it answers.
// Close the Store to close the connection.
func Open(cfg Config) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcdstore: no endpoints")
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	cc := clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		Username:    cfg.Username,
		Password:    cfg.Password,
		Logger:      zap.NewNop(),
		// Keep connections to members checked, so that a dead one is
		// noticed while idle.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: cfg.DialTimeout,
	}
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcdstore: %w", err)
	}
	s := New(cli, cfg.Prefix, cfg.Options)
	s.owned = true
	ctx, cancel := context.WithTimeout(context.Background(), cfg.DialTimeout)
	defer cancel()
	if _, err := cli.Get(ctx, s.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcdstore: reaching %s: %w", strings.Join(cfg.Endpoints, ", "), err)
	}
	return s, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcdstore: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcdstore: %s holds no PEM certificate", cfg.CAFile)
		}
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("etcdstore: a client certificate needs both CertFile and KeyFile")
	}
	if cfg.CertFile != "" {
		c, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcdstore: %w", err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return tc, nil
}

// Client returns the etcd client.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix returns the prefix of every key in etcd, ending in a slash.
func (s *Store) Prefix() string { return s.prefix }

// Close releases the locks this Store holds (revoking its lease) and, for
// a Store made by Open, closes the connection.
func (s *Store) Close() error {
	s.closeNow()
	s.mu.Lock()
	sess := s.session
	s.session = nil
	// A lease kept alive again by revive and no longer the Store's own
	// (a new one was granted meanwhile) is revoked too.
	var others []clientv3.LeaseID
	for _, r := range s.revivals {
		if r.sess != nil && r.sess != sess {
			others = append(others, r.sess.Lease())
		}
	}
	s.revivals = map[*concurrency.Session]*revival{}
	s.mu.Unlock()
	var err error
	if sess != nil {
		err = sess.Close()
	}
	for _, id := range others {
		if sess != nil && id == sess.Lease() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), DefaultDialTimeout)
		_, _ = s.cli.Revoke(ctx, id) // best effort: it expires after LockTTL anyway
		cancel()
	}
	if s.owned {
		err = errors.Join(err, s.cli.Close())
	}
	return err
}

func (s *Store) dataKey(key string) string  { return s.prefix + key }
func (s *Store) mtimeKey(key string) string { return s.prefix + ".mtime/" + key }
func (s *Store) lockKey(name string) string { return s.prefix + ".locks/" + name + "/" }

// check validates key and ctx for a single-key operation.
func check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.ValidateKey(key); err != nil {
		return fmt.Errorf("etcdstore: %s: %w", op, err)
	}
	return nil
}

func notExist(op, key string) error {
	return &fs.PathError{Op: op, Path: key, Err: fs.ErrNotExist}
}

// Get returns the value at key.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := check(ctx, "get", key); err != nil {
		return nil, err
	}
	var resp *clientv3.GetResponse
	err := retry(ctx, func() (err error) {
		resp, err = s.cli.Get(ctx, s.dataKey(key))
		return err
	})
	if err != nil {
		return nil, &fs.PathError{Op: "get", Path: key, Err: err}
	}
	if len(resp.Kvs) == 0 {
		return nil, notExist("get", key)
	}
	return resp.Kvs[0].Value, nil
}

// tooLarge is the error for a value above Options.MaxValueSize.
type tooLarge struct{ n, max int }

func (e tooLarge) Error() string {
	return fmt.Sprintf("etcdstore: value of %d bytes, more than the limit of %d", e.n, e.max)
}
func (e tooLarge) Is(target error) bool { return target == store.ErrTooLarge }

// Put stores value at key in one transaction with its modification time.
// Like the other backends it refuses a key below another key's value, or
// a value where other keys live below. With a fenced context (see
// LockFenced) the transaction also requires the lock to be held.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	f := fenceOf(ctx, s)
	if f != nil && f.isLost() {
		return &fs.PathError{Op: "put", Path: key, Err: store.ErrLockLost}
	}
	if err := check(ctx, "put", key); err != nil {
		return err
	}
	if len(value) > s.opts.MaxValueSize {
		return &fs.PathError{Op: "put", Path: key, Err: tooLarge{len(value), s.opts.MaxValueSize}}
	}
	conds := []clientv3.Cmp{
		// Nothing below key.
		clientv3.Compare(clientv3.CreateRevision(s.dataKey(key+"/")), "=", 0).WithPrefix(),
	}
	for p := key; ; {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			break
		}
		p = p[:i]
		conds = append(conds, clientv3.Compare(clientv3.CreateRevision(s.dataKey(p)), "=", 0))
	}
	if f != nil {
		conds = append(conds, f.cmp())
	}
	var mt [8]byte
	binary.BigEndian.PutUint64(mt[:], uint64(time.Now().UnixNano()))
	var resp *clientv3.TxnResponse
	err := retry(ctx, func() (err error) {
		resp, err = s.cli.Txn(ctx).If(conds...).Then(
			clientv3.OpPut(s.dataKey(key), string(value)),
			clientv3.OpPut(s.mtimeKey(key), string(mt[:])),
		).Commit()
		return err
	})
	if err != nil {
		return &fs.PathError{Op: "put", Path: key, Err: err}
	}
	if resp.Succeeded {
		return nil
	}
	if f != nil {
		if lost, err := f.check(ctx); err != nil || lost {
			return &fs.PathError{Op: "put", Path: key, Err: errors.Join(store.ErrLockLost, err)}
		}
	}
	return &fs.PathError{Op: "put", Path: key, Err: errors.New("etcdstore: a key above or below holds a value (a key cannot be both a value and a directory)")}
}

// Delete removes key. With a fenced context the deletion requires the lock
// to be held.
func (s *Store) Delete(ctx context.Context, key string) error {
	f := fenceOf(ctx, s)
	if f != nil && f.isLost() {
		return &fs.PathError{Op: "delete", Path: key, Err: store.ErrLockLost}
	}
	if err := check(ctx, "delete", key); err != nil {
		return err
	}
	var conds []clientv3.Cmp
	if f != nil {
		conds = append(conds, f.cmp())
	}
	var (
		resp  *clientv3.TxnResponse
		tries int
	)
	err := retry(ctx, func() (err error) {
		tries++
		resp, err = s.cli.Txn(ctx).If(conds...).Then(
			clientv3.OpDelete(s.dataKey(key)),
			clientv3.OpDelete(s.mtimeKey(key)),
		).Commit()
		return err
	})
	if err != nil {
		return &fs.PathError{Op: "delete", Path: key, Err: err}
	}
	if !resp.Succeeded {
		return &fs.PathError{Op: "delete", Path: key, Err: store.ErrLockLost}
	}
	if resp.Responses[0].GetResponseDeleteRange().Deleted == 0 && tries == 1 {
		// After a failed try, the key may be missing because that try
		// deleted it.
		return notExist("delete", key)
	}
	return nil
}

// List returns, sorted, the keys that begin with prefix.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	var resp *clientv3.GetResponse
	err := retry(ctx, func() (err error) {
		resp, err = s.cli.Get(ctx, s.dataKey(prefix), clientv3.WithPrefix(), clientv3.WithKeysOnly(),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("etcdstore: list %q: %w", prefix, err)
	}
	keys := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		k := string(kv.Key[len(s.prefix):])
		if store.ValidateKey(k) == nil { // leaves out .mtime and .locks
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := store.ValidateKey(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("etcdstore: prefix: %w", err)
	}
	return nil
}

// Stat describes the value at key.
func (s *Store) Stat(ctx context.Context, key string) (store.KeyInfo, error) {
	if err := check(ctx, "stat", key); err != nil {
		return store.KeyInfo{}, err
	}
	var resp *clientv3.TxnResponse
	err := retry(ctx, func() (err error) {
		resp, err = s.cli.Txn(ctx).Then(
			clientv3.OpGet(s.dataKey(key)),
			clientv3.OpGet(s.mtimeKey(key)),
		).Commit()
		return err
	})
	if err != nil {
		return store.KeyInfo{}, &fs.PathError{Op: "stat", Path: key, Err: err}
	}
	v := resp.Responses[0].GetResponseRange().Kvs
	if len(v) == 0 {
		return store.KeyInfo{}, notExist("stat", key)
	}
	info := store.KeyInfo{Key: key, Size: int64(len(v[0].Value))}
	if m := resp.Responses[1].GetResponseRange().Kvs; len(m) == 1 && len(m[0].Value) == 8 {
		info.Modified = time.Unix(0, int64(binary.BigEndian.Uint64(m[0].Value)))
	}
	return info, nil
}
