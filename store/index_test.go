package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/storetest"
)

func TestIndex(t *testing.T) {
	ctx := context.Background()
	d, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &store.Certs{Store: d}
	if err := storetest.Generate(ctx, c, 0, 3); err != nil {
		t.Fatal(err)
	}
	// No marker yet: the first read rebuilds it from the certificates.
	x, err := c.Index(ctx)
	if err != nil || !x.Rebuilt || x.Len() != 3 {
		t.Fatalf("Index: %v, rebuilt %v, len %d", err, x != nil && x.Rebuilt, x.Len())
	}
	name := storetest.GeneratedName(1)
	r := x.Lookup(storetest.GeneratedCA, name)
	res, err := c.LoadCertificate(ctx, storetest.GeneratedCA, name)
	if err != nil || r == nil {
		t.Fatalf("record %v, load %v", r, err)
	}
	leaf := res.Certificates[0]
	if r.Serial != leaf.SerialNumber.Text(16) || !r.NotAfter.Equal(leaf.NotAfter) || r.Version != 1 || !r.HasKey || r.Draw != store.RenewalDraw(leaf) {
		t.Errorf("record %+v does not describe %s", r, name)
	}
	next := time.Now().Add(time.Hour).UTC()
	if err := c.SaveSchedule(ctx, storetest.GeneratedCA, name, store.Schedule{Serial: r.Serial, NextRenewal: next, Failures: 2, LastError: "a\tb"}); err != nil {
		t.Fatal(err)
	}
	mark := x.Mark()
	if err := storetest.Generate(ctx, c, 3, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteCertificate(ctx, storetest.GeneratedCA, storetest.GeneratedName(0)); err != nil {
		t.Fatal(err)
	}
	changes, _, err := c.IndexChanges(ctx, mark)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, ch := range changes {
		got[ch.Name] = ch.Deleted
	}
	if d, ok := got[storetest.GeneratedName(3)]; !ok || d {
		t.Errorf("changes %v lack the new certificate", got)
	}
	if d := got[storetest.GeneratedName(0)]; !d {
		t.Errorf("changes %v lack the deletion", got)
	}
	x, err = c.Index(ctx)
	if err != nil || x.Rebuilt || x.Len() != 3 {
		t.Fatalf("Index again: %v, rebuilt %v, len %d", err, x.Rebuilt, x.Len())
	}
	s := x.Lookup(storetest.GeneratedCA, name).Schedule
	if !s.NextRenewal.Equal(next) || s.Failures != 2 || s.LastError != "a\tb" {
		t.Errorf("schedule %+v", s)
	}
}
