package manager_test

import (
	"crypto/x509"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/manager"
)

// In a storm (more certificates due than Concurrency lets renew at once)
// the first fetch of renewal information for each new certificate is
// left to a later check, rather than doubling the storm's requests to
// the CA; every one is fetched once the storm is over. Without a storm
// it is fetched at once, so that the state says when the certificate is
// really renewed.
func TestStormLeavesFirstRenewalInfoForLater(t *testing.T) {
	for _, tc := range []struct {
		name        string
		concurrency int
		wantLater   int // at least this many not fetched at once
	}{
		{"storm", 2, 5},
		{"no storm", 16, 0},
	} {
		t.Run(tc.name, inBubble(func(t *testing.T) {
			h := newTestSetup(t, func(c *manager.Config) { c.Concurrency = tc.concurrency })
			var (
				mu      sync.Mutex
				fetched = map[string]int{} // serial: fetches
			)
			h.ca.mu.Lock()
			h.ca.ari = func(leaf *x509.Certificate) (acme.RenewalInfo, error) {
				mu.Lock()
				fetched[leaf.SerialNumber.String()]++
				mu.Unlock()
				var ri acme.RenewalInfo
				ri.SuggestedWindow.Start = leaf.NotBefore.Add(50 * day)
				ri.SuggestedWindow.End = leaf.NotBefore.Add(51 * day)
				ri.RetryAfter = h.clock.Now().Add(6 * time.Hour)
				return ri, nil
			}
			h.ca.mu.Unlock()
			const n = 10
			for i := range n {
				if err := h.m.Manage(ctxT(t), testCert(fmt.Sprintf("c%d.example.com", i))); err != nil {
					t.Fatal(err)
				}
			}
			h.run()
			for range n {
				h.next(manager.EventObtained)
			}
			h.waitIdle()
			mu.Lock()
			later := n - len(fetched)
			mu.Unlock()
			if later < tc.wantLater || tc.wantLater == 0 && later != 0 {
				t.Errorf("%d of %d new certificates' renewal information left for later, want %s", later, n,
					map[bool]string{true: "none", false: fmt.Sprintf("at least %d", tc.wantLater)}[tc.wantLater == 0])
			}
			h.advance(2 * time.Minute)
			h.waitIdle()
			mu.Lock()
			defer mu.Unlock()
			if len(fetched) != n {
				t.Errorf("renewal information of %d of %d certificates fetched once the storm is over", len(fetched), n)
			}
			for sn, k := range fetched {
				if k != 1 {
					t.Errorf("serial %s: renewal information fetched %d times, want 1", sn, k)
				}
			}
			for _, s := range h.m.Status() {
				if s.ARIWindowStart.IsZero() {
					t.Errorf("%s: no renewal window in its status after the storm", s.Name)
				}
			}
		}))
	}
}
