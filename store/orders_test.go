package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/store"
)

// Order records round-trip, newest first, in both layouts and both
// stores, and are no renewal state to ListStates or WhatChanged.
func TestOrderRecords(t *testing.T) {
	const ca, name = "https://ca.example.com/directory", "www.example.com"
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, layout := range []store.Layout{store.LayoutStandard, store.LayoutShared} {
		dir, err := store.NewDir(filepath.Join(t.TempDir(), "store"))
		if err != nil {
			t.Fatal(err)
		}
		for sname, st := range map[string]store.Store{"memory": store.NewMemory(), "dir": dir} {
			t.Run(layout.String()+"/"+sname, func(t *testing.T) {
				ctx := context.Background()
				c := &store.Certs{Store: st, Layout: layout}
				if recs, err := c.LoadOrders(ctx, ca, name); err != nil || len(recs) != 0 {
					t.Fatalf("LoadOrders of none: %v, %v", recs, err)
				}
				older := store.OrderRecord{URL: "https://ca.example.com/order/1", KeyPEM: "KEY1", PlacedAt: t0}
				newer := store.OrderRecord{URL: "https://ca.example.com/order/2", PlacedAt: t0.Add(time.Minute)}
				for _, r := range []store.OrderRecord{older, newer} {
					if err := c.SaveOrder(ctx, ca, name, r); err != nil {
						t.Fatal(err)
					}
				}
				if err := c.SaveOrder(ctx, ca, name, store.OrderRecord{}); err == nil {
					t.Error("a record without a URL was saved")
				}
				recs, err := c.LoadOrders(ctx, ca, name)
				if err != nil || len(recs) != 2 || recs[0] != newer || recs[1] != older {
					t.Fatalf("LoadOrders: %+v, %v; want the newer first, then the older", recs, err)
				}
				if other, _ := c.LoadOrders(ctx, ca, "other.example.com"); len(other) != 0 {
					t.Errorf("another certificate's records: %+v", other)
				}
				if err := c.SaveState(ctx, ca, name, []byte(`{"name":"www.example.com"}`)); err != nil {
					t.Fatal(err)
				}
				states, err := c.ListStates(ctx, "")
				if err != nil || len(states) != 1 {
					t.Errorf("ListStates: %+v, %v; want the one state", states, err)
				}
				ks, err := st.List(ctx, "")
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range ks {
					if ch := c.WhatChanged(k); ch.Kind == store.ChangeState && ch.Name != name {
						t.Errorf("WhatChanged(%q) = %+v", k, ch)
					}
				}
				if err := c.DeleteOrder(ctx, ca, name, older.URL); err != nil {
					t.Fatal(err)
				}
				if err := c.DeleteOrder(ctx, ca, name, older.URL); err != nil {
					t.Errorf("deleting a record again: %v", err)
				}
				if recs, _ := c.LoadOrders(ctx, ca, name); len(recs) != 1 || recs[0] != newer {
					t.Errorf("after deleting one: %+v", recs)
				}
			})
		}
	}
}
