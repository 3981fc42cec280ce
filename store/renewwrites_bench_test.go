package store_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/internal/cputime"
	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/storetest"
)

var renewDir = flag.String("renew.dir", "", "BenchmarkRenewalWrites: make the store under this directory (default: the benchmark's temporary directory); /dev/shm leaves the disk out")

// BenchmarkRenewalWrites is what one renewal does to a directory store,
// in the order package manager does it: take the certificate's obtain
// lock, see whether the version stored is still the one held
// (StoredVersion: the certificate is read again only when it changed),
// check that the save can be made (CheckSave), save the state naming the
// order placed (SaveStateUnindexed: its schedule is unchanged), save the new certificate (a new version, the older ones
// pruned past KeepVersions) and read the version it got, save the final
// state, release the lock. Each renewal saves a certificate the store has
// not seen (a new key and serial for the same name, made beforehand and
// left out of the figures): the live certificate saved again writes
// nothing. It reports CPU time per renewal (cpu-µs/op) besides the wall
// time: on a disk where new files are slow to make, that is where they
// show.
//
// In "again", a Dir renews each certificate again and again, as a daemon
// that has run for long does; in "first", each round of renewals goes
// through a Dir of its own, so that each renewal is the first of its
// certificate in that Dir, as in a renewal storm after a start, in a boot
// whose leftovers were swept (SweepLeftovers: the manager's Run sweeps
// once per boot); "first-unswept", the same in a boot not swept yet (the
// first lock of each certificate looks for what writers that died left).
func BenchmarkRenewalWrites(b *testing.B) {
	b.Run("again", func(b *testing.B) { benchmarkRenewalWrites(b, false, true) })
	b.Run("first", func(b *testing.B) { benchmarkRenewalWrites(b, true, true) })
	b.Run("first-unswept", func(b *testing.B) { benchmarkRenewalWrites(b, true, false) })
}

func benchmarkRenewalWrites(b *testing.B, first, swept bool) {
	ctx := context.Background()
	root := b.TempDir()
	if *renewDir != "" {
		var err error
		if root, err = os.MkdirTemp(*renewDir, "renew"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(root) })
	}
	d, err := store.NewDir(root)
	if err != nil {
		b.Fatal(err)
	}
	certs := &store.Certs{Store: d}
	const n = 200
	if err := storetest.Generate(ctx, certs, 0, n); err != nil {
		b.Fatal(err)
	}
	recs, err := certs.ListCertificates(ctx, storetest.GeneratedCA)
	if err != nil || len(recs) != n {
		b.Fatalf("%d certificates generated: %v", len(recs), err)
	}
	if swept {
		if err := certs.SweepLeftovers(ctx); err != nil {
			b.Fatal(err)
		}
	}
	state := func(r store.CertRecord, pending string) []byte {
		return fmt.Appendf(nil, `{"name":%q,"ca":%q,"serial":"1","next_renewal":"2026-12-01T00:00:00Z","last_attempt":"2026-12-01T00:00:00Z","pending_order":%q}`+"\n",
			r.Name, storetest.GeneratedCA, pending)
	}
	// renewed returns the certificates of the next round of renewals:
	// the same names, issued again into a store of their own.
	renewed := func() []store.CertRecord {
		m := &store.Certs{Store: store.NewMemory()}
		if err := storetest.Generate(ctx, m, 0, n); err != nil {
			b.Fatal(err)
		}
		recs, err := m.ListCertificates(ctx, storetest.GeneratedCA)
		if err != nil || len(recs) != n {
			b.Fatalf("%d certificates generated: %v", len(recs), err)
		}
		return recs
	}
	var (
		cpu  time.Duration
		next []store.CertRecord
	)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i%n == 0 {
			b.StopTimer()
			next = renewed()
			if first && i > 0 {
				if d, err = store.NewDir(root); err != nil {
					b.Fatal(err)
				}
				certs = &store.Certs{Store: d}
			}
			b.StartTimer()
		}
		cpu0 := cputime.Used()
		r := next[i%n]
		i++
		lock, err := certs.ObtainLock(storetest.GeneratedCA, r.Name)
		if err != nil {
			b.Fatal(err)
		}
		unlock, err := d.Lock(ctx, lock)
		if err != nil {
			b.Fatal(err)
		}
		if v, err := certs.StoredVersion(ctx, storetest.GeneratedCA, r.Name); err != nil || v == 0 {
			b.Fatal(v, err)
		}
		if err := certs.CheckSave(ctx, storetest.GeneratedCA, r.Name); err != nil {
			b.Fatal(err)
		}
		if err := certs.SaveStateUnindexed(ctx, storetest.GeneratedCA, r.Name, state(r, "https://ca.example.test/order/1")); err != nil {
			b.Fatal(err)
		}
		if err := certs.SaveCertificate(ctx, r); err != nil {
			b.Fatal(err)
		}
		if _, err := certs.StoredVersion(ctx, storetest.GeneratedCA, r.Name); err != nil {
			b.Fatal(err)
		}
		if err := certs.SaveState(ctx, storetest.GeneratedCA, r.Name, state(r, "")); err != nil {
			b.Fatal(err)
		}
		if err := unlock(); err != nil {
			b.Fatal(err)
		}
		cpu += cputime.Used() - cpu0
	}
	b.ReportMetric(float64(cpu)/1e3/float64(b.N), "cpu-µs/op")
}
