package manager

import (
	"context"
	"time"

	"github.com/certkeeper/certkeeper/store"
)

// In a cluster an order placed under a certificate's lock is noted in
// the certificate's state, a write fenced by that lock. If the lock is
// lost between the CA's answer to newOrder and that write (the lease
// ran out, or the etcd client gave it up while the cluster elected a new
// leader), the store refuses the write, and the next holder, knowing
// nothing of the order, would place another. The order is then written
// apart, unfenced, as a store.OrderRecord, and whoever takes the lock
// next continues it (issue.Request.Resume checks that it is an order for
// the same identifiers and profile, and, once finalized, for the same
// key).

// orderRecordTimeout bounds the unfenced write of an order record.
const orderRecordTimeout = 30 * time.Second

// orderNoted is req.OnOrder's work for e, whose Spec is c: e's state
// takes the order placed at url (keyPEM is the private key of its
// request, "" if the order uses no new key) and is saved. If the store
// refuses the save and fences writes, the order is recorded apart for
// the next holder of the lock. It reports whether it wrote such a
// record.
func (m *Manager) orderNoted(ctx context.Context, e *entry, c Spec, url, keyPEM string) (recorded bool) {
	m.mu.Lock()
	e.orderPlaced(url, keyPEM)
	m.mu.Unlock()
	// Nothing of the schedule changed: the index line would be the one
	// it holds.
	if err := m.writeState(ctx, e, false); err == nil {
		return false
	}
	if _, fenced := m.cfg.Store.(store.FencedLocker); !fenced {
		return false
	}
	log := m.cfg.Logger.With("name", c.Name, "order", url)
	// Not the fenced context: the lock is what may be lost.
	rctx, cancel := context.WithTimeout(context.Background(), orderRecordTimeout)
	defer cancel()
	rec := store.OrderRecord{URL: url, KeyPEM: keyPEM, PlacedAt: m.cfg.Clock.Now().UTC()}
	if err := m.certs.SaveOrder(rctx, c.Issuer.Client.DirectoryURL, c.Name, rec); err != nil {
		log.ErrorContext(ctx, "order placed but recorded nowhere: the next attempt may place another", "error", err)
		return false
	}
	log.WarnContext(ctx, "order placed but the renewal state refused it (lock lost?): recorded apart for the next holder of the lock")
	return true
}

// storedOrders runs under e's lock once e's state is as stored (see
// sharedBackoff), in a store that fences writes: if the state names no
// order in flight, the most recently placed order record becomes it. It
// returns the URLs of the records found, for dropOrders.
func (m *Manager) storedOrders(ctx context.Context, e *entry, c Spec) []string {
	if _, fenced := m.cfg.Store.(store.FencedLocker); !fenced {
		return nil
	}
	recs, err := m.certs.LoadOrders(ctx, c.Issuer.Client.DirectoryURL, c.Name)
	if err != nil {
		m.cfg.Logger.WarnContext(ctx, "cannot read the orders recorded apart", "name", c.Name, "error", err)
		return nil
	}
	if len(recs) == 0 {
		return nil
	}
	urls := make([]string, len(recs))
	for i, r := range recs {
		urls[i] = r.URL
	}
	m.mu.Lock()
	take := e.state().PendingOrder == ""
	if take {
		e.orderPlaced(recs[0].URL, recs[0].KeyPEM)
	}
	m.mu.Unlock()
	if take {
		m.cfg.Logger.InfoContext(ctx, "continuing an order that a holder of the lock placed and could not note in the state",
			"name", c.Name, "order", recs[0].URL)
	}
	return urls
}

// dropOrders deletes the order records at urls once the attempt that
// found or wrote them has ended other than cut short: its order is
// done, failed, or was not worth continuing. The deletion is fenced, so
// a holder that lost the lock leaves them to the next one.
func (m *Manager) dropOrders(ctx context.Context, c Spec, urls []string) {
	for _, u := range urls {
		if err := m.certs.DeleteOrder(context.WithoutCancel(ctx), c.Issuer.Client.DirectoryURL, c.Name, u); err != nil {
			m.cfg.Logger.DebugContext(ctx, "order record left for the next holder of the lock", "name", c.Name, "order", u, "error", err)
		}
	}
}

// leftOrder reports whether the state stored for e, read under the
// store's lock, records an order in flight: one that another process
// (or an earlier attempt of this one) placed and did not see to its end
// (killed, perhaps after the CA issued the certificate). It takes that order into e, to
// be finished rather than written over by e's state.
func (m *Manager) leftOrder(ctx context.Context, e *entry) bool {
	st, err := m.loadState(ctx, e)
	if err != nil || st.PendingOrder == "" {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e.orderAsStored(st)
	return true
}
