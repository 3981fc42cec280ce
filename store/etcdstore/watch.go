package etcdstore

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certkeeper/certkeeper/store"
)

// Watch reports the changes of keys beginning with prefix made after it
// returns, by any user of the cluster. It follows the cluster through
// member failures: a watch cut off from the leader is started again from
// the last revision seen, so nothing is missed; if etcd compacted that
// revision away meanwhile, an event with Reset set is sent instead.
func (s *Store) Watch(ctx context.Context, prefix string) (<-chan store.WatchEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	resp, err := s.cli.Get(ctx, s.dataKey(prefix), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return nil, fmt.Errorf("etcdstore: watch %q: %w", prefix, err)
	}
	ch := make(chan store.WatchEvent, 64)
	go s.watch(ctx, prefix, resp.Header.Revision, ch)
	return ch, nil
}

func (s *Store) watch(ctx context.Context, prefix string, rev int64, ch chan<- store.WatchEvent) {
	defer close(ch)
	send := func(ev store.WatchEvent) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		// WithRequireLeader ends the watch when its member loses the
		// leader, instead of leaving it silent on the wrong side of a
		// partition.
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := s.cli.Watch(wctx, s.dataKey(prefix), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for resp := range wch {
			if resp.CompactRevision != 0 {
				rev = resp.CompactRevision - 1
				if !send(store.WatchEvent{Reset: true, Revision: resp.CompactRevision}) {
					break
				}
				continue
			}
			if resp.Err() != nil {
				break
			}
			for _, ev := range resp.Events {
				rev = ev.Kv.ModRevision
				k := string(ev.Kv.Key[len(s.prefix):])
				if store.ValidateKey(k) != nil {
					continue
				}
				if !send(store.WatchEvent{Key: k, Deleted: ev.Type == clientv3.EventTypeDelete, Revision: ev.Kv.ModRevision}) {
					break
				}
			}
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}
