package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// TestIndexFull: an index written before it recorded lineages and states
// (no "full" marker) is not used by ReadIndex, which writes nothing, and
// is rebuilt with them by Index; FindInIndex finds certificates by name
// and identifier, in any case, and not by a name that only contains the
// one asked for.
func TestIndexFull(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	c := &store.Certs{Store: d}
	if err := storetest.Generate(ctx, c, 0, 12); err != nil {
		t.Fatal(err)
	}
	ca := storetest.GeneratedCA
	if err := c.SaveLineage(ctx, store.Lineage{Name: "wanted.example.com", CA: ca, Account: "acct", Identifiers: []string{"wanted.example.com", "Alias.Example.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveState(ctx, ca, storetest.GeneratedName(1), []byte(`{"name":"host-1.example.com","serial":"ab","failures":3,"last_error":"no"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadIndex(ctx); !errors.Is(err, store.ErrNoIndex) {
		t.Fatalf("ReadIndex of a store whose index is not marked: %v", err)
	}
	if _, err := d.Stat(ctx, "certificates/_index/complete"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadIndex wrote the marker: %v", err)
	}
	x, err := c.Index(ctx)
	if err != nil || !x.Rebuilt || !x.Full() {
		t.Fatalf("Index: %v (rebuilt %v)", err, x != nil && x.Rebuilt)
	}
	got := map[string]store.IndexEntry{}
	for _, e := range x.Entries("") {
		got[e.Name] = e
	}
	if l := got["wanted.example.com"].Lineage; len(got) != 13 || l == nil || l.Account != "acct" || len(l.Identifiers) != 2 {
		t.Fatalf("entries %d, lineage %+v", len(got), l)
	}
	if s := got[storetest.GeneratedName(1)].Schedule; s == nil || s.Failures != 3 || s.LastError != "no" || s.Serial != "ab" {
		t.Errorf("schedule %+v", s)
	}
	if x, err := c.ReadIndex(ctx); err != nil || !x.Full() || len(x.Entries("")) != 13 {
		t.Fatalf("ReadIndex after Index: %v", err)
	}
	for _, tc := range []struct {
		names []string
		want  []string
	}{
		{[]string{"HOST-1.example.com"}, []string{storetest.GeneratedName(1)}},
		{[]string{"alias.example.com", "host-11.example.com"}, []string{storetest.GeneratedName(11), "wanted.example.com"}},
		{[]string{"example.com", "ost-1.example.com"}, nil},
	} {
		keys, err := c.FindInIndex(ctx, tc.names)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, k := range keys {
			names = append(names, k.Name)
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("FindInIndex(%q) = %q, want %q", tc.names, names, tc.want)
		}
	}

	// An older version compacts a shard: it keeps the lines it knows
	// (here: none) under its own header. The index is not Full until
	// Index rebuilds it.
	for i := range 16 {
		k := fmt.Sprintf("certificates/_index/%x", i)
		if err := d.Put(ctx, k, []byte("certkeeper-index 1 0123456789abcdef\n")); err != nil {
			t.Fatal(err)
		}
	}
	if x, err := c.ReadIndex(ctx); err != nil || x.Full() {
		t.Fatalf("ReadIndex after an older version's compaction: full %v, %v", x != nil && x.Full(), err)
	}
	if _, err := c.FindInIndex(ctx, []string{"wanted.example.com"}); !errors.Is(err, store.ErrNoIndex) {
		t.Fatalf("FindInIndex after an older version's compaction: %v", err)
	}
	if x, err := c.Index(ctx); err != nil || !x.Rebuilt || !x.Full() || len(x.Entries("")) != 13 {
		t.Fatalf("Index after an older version's compaction: %v", err)
	}
}

// TestIndexShardBounded checks that a shard appended to for long (a
// daemon saving schedules, with no reader compacting the index) stays
// readable: without compaction it grows past store.MaxValueSize, which
// Get refuses.
func TestIndexShardBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 16 MiB of schedules")
	}
	ctx := context.Background()
	d, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &store.Certs{Store: d}
	if err := storetest.Generate(ctx, c, 0, 1); err != nil {
		t.Fatal(err)
	}
	x, err := c.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name := storetest.GeneratedName(0)
	r := x.Lookup(storetest.GeneratedCA, name)
	if r == nil {
		t.Fatal("no record")
	}
	long := strings.Repeat("x", 2000)
	n := store.MaxValueSize/len(long) + 100
	for i := range n {
		s := store.Schedule{Serial: r.Serial, Failures: i + 1, LastError: long}
		if err := c.SaveSchedule(ctx, storetest.GeneratedCA, name, s); err != nil {
			t.Fatalf("schedule %d: %v", i, err)
		}
	}
	x, err = c.Index(ctx)
	if err != nil {
		t.Fatalf("Index after %d schedules: %v", n, err)
	}
	if s := x.Lookup(storetest.GeneratedCA, name).Schedule; s.Failures != n {
		t.Errorf("Failures = %d, want the last saved, %d", s.Failures, n)
	}
}

// TestIndexRebuildLongError checks that a rebuild carries a long error of
// a renewal state into the index as a valid start of it, marked cut.
func TestIndexRebuildLongError(t *testing.T) {
	ctx := context.Background()
	c := &store.Certs{Store: store.NewMemory()}
	if err := storetest.Generate(ctx, c, 0, 1); err != nil {
		t.Fatal(err)
	}
	ca, name := storetest.GeneratedCA, storetest.GeneratedName(0)
	long := "a" + strings.Repeat("é", 2000)
	st, err := json.Marshal(map[string]any{"name": name, "serial": "ab", "failures": 1, "last_error": long})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SaveState(ctx, ca, name, st); err != nil {
		t.Fatal(err)
	}
	if err := c.RebuildIndex(ctx); err != nil {
		t.Fatal(err)
	}
	x, err := c.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var s *store.Schedule
	for _, e := range x.Entries(ca) {
		if e.Name == name {
			s = e.Schedule
		}
	}
	if s == nil || s.Failures != 1 {
		t.Fatalf("schedule %+v", s)
	}
	if !s.ErrorCut || !utf8.ValidString(s.LastError) || !strings.HasPrefix(long, s.LastError) || len(s.LastError) < 1000 {
		t.Errorf("LastError of %d bytes (cut %v, valid UTF-8 %v), want a valid start of the state's", len(s.LastError), s.ErrorCut, utf8.ValidString(s.LastError))
	}
}

// TestIndexOversizedShard checks that Index rebuilds an index with a
// shard grown past store.MaxValueSize (which Get refuses) by a version
// that did not compact on append, rather than failing for good.
func TestIndexOversizedShard(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 17 MiB")
	}
	ctx := context.Background()
	d, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &store.Certs{Store: d}
	if err := storetest.Generate(ctx, c, 0, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Index(ctx); err != nil {
		t.Fatal(err)
	}
	junk := []byte(strings.Repeat("x", 1<<20-1) + "\n")
	for range store.MaxValueSize>>20 + 1 {
		if err := d.Append(ctx, "certificates/_index/0", junk); err != nil {
			t.Fatal(err)
		}
	}
	x, err := c.Index(ctx)
	if err != nil || !x.Rebuilt || x.Len() != 3 {
		t.Fatalf("Index: %v (rebuilt %v)", err, x != nil && x.Rebuilt)
	}
	if info, err := d.Stat(ctx, "certificates/_index/0"); err != nil || info.Size > 1<<20 {
		t.Errorf("shard after the rebuild: %+v, %v", info, err)
	}
}
