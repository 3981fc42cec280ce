package engine_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/managertest"
	"github.com/certkeeper/certkeeper/store"
)

// countingDir is a directory store that counts the certificates read.
type countingDir struct {
	*store.Dir
	certReads atomic.Int64
}

func (c *countingDir) Get(ctx context.Context, key string) ([]byte, error) {
	if strings.HasSuffix(key, "/cert.pem") || strings.HasSuffix(key, "/fullchain.pem") {
		c.certReads.Add(1)
	}
	return c.Dir.Get(ctx, key)
}

// listJSON lists with opts and returns the entries as JSON with every
// time in UTC, and whether List returned an error.
func listJSON(t *testing.T, eng *engine.Engine, opts engine.ListOptions) (string, bool) {
	t.Helper()
	entries, err := eng.List(t.Context(), opts)
	for i := range entries {
		e := &entries[i]
		e.NotBefore, e.NotAfter, e.NextRenewal, e.LastSuccess = e.NotBefore.UTC(), e.NotAfter.UTC(), e.NextRenewal.UTC(), e.LastSuccess.UTC()
		if e.Revoked != nil {
			r := *e.Revoked
			r.At = r.At.UTC()
			e.Revoked = &r
		}
	}
	data, jerr := json.MarshalIndent(entries, "", " ")
	if jerr != nil {
		t.Fatal(jerr)
	}
	return string(data), err != nil
}

// TestListIndexMatchesReading: List from the store's index gives what
// List by reading every record gives, for valid, due, expired, revoked,
// missing, keyless and lineage-less certificates, states of every kind,
// and names selected by name or by identifier; and the index kept by
// later saves, revocations and deletions still does.
func TestListIndexMatchesReading(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	d, err := store.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cd := &countingDir{Dir: d}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	eng, err := engine.New(engine.Config{Store: cd, Manager: manager.Config{Clock: managertest.NewFakeClock(now)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	certs := &store.Certs{Store: cd}
	day := 24 * time.Hour

	cert := func(ca string, notBefore time.Time, life time.Duration, withKey bool, names ...string) string {
		t.Helper()
		key, _ := keys.Generate(keys.EC256)
		serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]}, DNSNames: names, NotBefore: notBefore, NotAfter: notBefore.Add(life)}
		issuerKey, _ := keys.Generate(keys.EC256)
		issuer := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Issuer"}, NotBefore: notBefore, NotAfter: notBefore.Add(10 * life), IsCA: true, BasicConstraintsValid: true}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), issuerKey)
		if err != nil {
			t.Fatal(err)
		}
		res := store.CertRecord{Name: names[0], Identifiers: names, CA: ca, ChainPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
		if withKey {
			res.KeyPEM, _ = keys.MarshalPEM(key)
		}
		if err := certs.SaveCertificate(ctx, res); err != nil {
			t.Fatal(err)
		}
		return serial.Text(16)
	}
	lineage := func(ca, account string, names ...string) {
		t.Helper()
		if err := certs.SaveLineage(ctx, store.Lineage{Name: names[0], CA: ca, Account: account, Identifiers: names}); err != nil {
			t.Fatal(err)
		}
	}
	state := func(ca, name string, st map[string]any) {
		t.Helper()
		st["name"], st["ca"] = name, ca
		data, _ := json.Marshal(st)
		if err := certs.SaveState(ctx, ca, name, data); err != nil {
			t.Fatal(err)
		}
	}

	longErr := "issue: acme: order is invalid: " + strings.Repeat("detail, with\ttabs and %25 ", 200) + "the deepest cause"
	valid := cert(caA, now.Add(-10*day), 90*day, true, "valid.example.test", "www.valid.example.test")
	lineage(caA, "acct-1", "valid.example.test", "www.valid.example.test")
	state(caA, "valid.example.test", map[string]any{"serial": valid, "next_renewal": now.Add(47 * day), "last_success": now.Add(-10 * day)})
	lineage(caA, "acct-1", "missing.example.test")
	state(caA, "missing.example.test", map[string]any{"last_error": longErr, "failures": 2, "next_renewal": now.Add(time.Hour)})
	cert(caA, now.Add(-30*day), 90*day, true, "stale.example.test")
	lineage(caA, "acct-2", "stale.example.test")
	state(caA, "stale.example.test", map[string]any{"serial": "1234", "next_renewal": now.Add(300 * day), "failures": 1, "last_error": "one\nline two"})
	cert(caA, now.Add(-100*day), 90*day, true, "expired.example.test")
	lineage(caA, "acct-1", "expired.example.test")
	cert(caA, now.Add(-5*day), 90*day, false, "keyless.example.test")
	lineage(caA, "acct-1", "keyless.example.test")
	revoked := cert(caB, now.Add(-1*day), 90*day, true, "revoked.example.test")
	lineage(caB, "default", "revoked.example.test")
	if err := certs.MarkRevoked(ctx, caB, "revoked.example.test", revoked, now, 4); err != nil {
		t.Fatal(err)
	}
	cert(caB, now.Add(-30*day), 90*day, true, "old.example.test", "alias.example.test")
	// Lineage asks for more names than the certificate has.
	cert(caB, now.Add(-2*day), 90*day, true, "grown.example.test")
	lineage(caB, "default", "grown.example.test", "new.example.test")

	optsList := []engine.ListOptions{
		{},
		{CA: caB},
		{Names: []string{"valid.example.test"}},
		{Names: []string{"WWW.valid.example.test", "alias.example.test"}},
		{Names: []string{"new.example.test", "missing.example.test", "nowhere.example.test"}},
		{CA: caA, Names: []string{"revoked.example.test"}},
	}
	compare := func(what string, want []string, wantErr []bool, indexed bool) {
		t.Helper()
		for i, opts := range optsList {
			before := cd.certReads.Load()
			got, gotErr := listJSON(t, eng, opts)
			if got != want[i] || gotErr != wantErr[i] {
				t.Errorf("%s, %+v: from the index (error %v):\n%s\nby reading (error %v):\n%s", what, opts, gotErr, got, wantErr[i], want[i])
			}
			if reads := cd.certReads.Load() - before; indexed && len(opts.Names) == 0 && reads != 0 {
				t.Errorf("%s, %+v: List from the index read %d certificates", what, opts, reads)
			}
			if reads := cd.certReads.Load() - before; indexed && len(opts.Names) > 0 && reads > 4 {
				t.Errorf("%s, %+v: List of names read %d certificates, not only theirs", what, opts, reads)
			}
		}
	}
	read := func() (want []string, wantErr []bool) {
		t.Helper()
		for _, opts := range optsList {
			j, e := listJSON(t, eng, opts)
			want, wantErr = append(want, j), append(wantErr, e)
		}
		return want, wantErr
	}

	// No index yet: List reads. Then the index is built, and List must
	// give the same from it alone.
	if _, err := certs.ReadIndex(ctx); err == nil {
		t.Fatal("ReadIndex of a store with no index succeeded")
	}
	want, wantErr := read()
	if !strings.Contains(want[0], "keyless.example.test") || !strings.Contains(want[0], `"revoked"`) {
		t.Fatalf("the store is not what the test means:\n%s", want[0])
	}
	if err := certs.RebuildIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if x, err := certs.ReadIndex(ctx); err != nil || !x.Full() {
		t.Fatalf("ReadIndex after RebuildIndex: %v", err)
	}
	compare("rebuilt index", want, wantErr, true)

	// Changes made through the store keep the index: List from it still
	// gives what reading gives.
	cert(caA, now.Add(-1*day), 90*day, true, "missing.example.test")
	state(caA, "missing.example.test", map[string]any{"serial": "ff", "last_success": now})
	s2 := cert(caA, now.Add(-1*day), 90*day, true, "valid.example.test", "www.valid.example.test")
	if err := certs.MarkRevoked(ctx, caA, "valid.example.test", s2, now.Add(time.Minute), 1); err != nil {
		t.Fatal(err)
	}
	if err := certs.DeleteCertificate(ctx, caA, "expired.example.test"); err != nil {
		t.Fatal(err)
	}
	if err := certs.DeleteLineage(ctx, caA, "stale.example.test"); err != nil {
		t.Fatal(err)
	}
	lineage(caB, "default", "old.example.test", "alias.example.test", "more.example.test")
	indexed, indexedErr := read()
	if err := os.Remove(filepath.Join(dir, "certificates", "_index", "full")); err != nil {
		t.Fatal(err)
	}
	want, wantErr = read()
	if !strings.Contains(want[0], "more.example.test") {
		t.Fatalf("the changes did not change the listing:\n%s", want[0])
	}
	for i := range want {
		if indexed[i] != want[i] || indexedErr[i] != wantErr[i] {
			t.Errorf("after changes, %+v: from the index (error %v):\n%s\nby reading (error %v):\n%s", optsList[i], indexedErr[i], indexed[i], wantErr[i], want[i])
		}
	}
}
