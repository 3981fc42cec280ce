package engine_test

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/managertest"
	"github.com/certkeeper/certkeeper/store"
)

const (
	caA = "https://ca-a.example.test/directory"
	caB = "https://ca-b.example.test/acme/directory"
)

// listFixture is a directory store filled by hand, and an engine over it
// whose clock says now.
type listFixture struct {
	t     *testing.T
	dir   string
	certs *store.Certs
	now   time.Time
	eng   *engine.Engine
}

func newListFixture(t *testing.T) *listFixture {
	t.Helper()
	dir := t.TempDir()
	d, err := store.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	eng, err := engine.New(engine.Config{Store: d, Manager: manager.Config{Clock: managertest.NewFakeClock(now)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return &listFixture{t: t, dir: dir, certs: &store.Certs{Store: d}, now: now, eng: eng}
}

// cert stores a certificate for names from ca, valid from notBefore for
// life, issued by "Test Issuer", and returns its serial (hexadecimal).
func (f *listFixture) cert(ca string, notBefore time.Time, life time.Duration, names ...string) string {
	f.t.Helper()
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		f.t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0]},
		Issuer:       pkix.Name{CommonName: "Test Issuer"},
		DNSNames:     names,
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(life),
	}
	issuerKey, err := keys.Generate(keys.EC256)
	if err != nil {
		f.t.Fatal(err)
	}
	issuer := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Issuer"}, NotBefore: notBefore, NotAfter: notBefore.Add(10 * life), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), issuerKey)
	if err != nil {
		f.t.Fatal(err)
	}
	keyPEM, err := keys.MarshalPEM(key)
	if err != nil {
		f.t.Fatal(err)
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := f.certs.SaveCertificate(f.t.Context(), store.CertRecord{Name: names[0], Identifiers: names, CA: ca, KeyPEM: keyPEM, ChainPEM: chain}); err != nil {
		f.t.Fatal(err)
	}
	return serial.Text(16)
}

func (f *listFixture) lineage(ca string, names ...string) {
	f.t.Helper()
	l := store.Lineage{Name: names[0], CA: ca, Account: "default", Identifiers: names}
	if err := f.certs.SaveLineage(f.t.Context(), l); err != nil {
		f.t.Fatal(err)
	}
}

// state writes a manager's renewal state as manager.Manager does (the
// fields List reads).
func (f *listFixture) state(ca, name string, st map[string]any) {
	f.t.Helper()
	st["name"], st["ca"] = name, ca
	data, _ := json.Marshal(st)
	if err := f.certs.SaveState(f.t.Context(), ca, name, data); err != nil {
		f.t.Fatal(err)
	}
}

// files lists every file under dir with its size and time.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprint(p, fi.Mode(), fi.ModTime(), fi.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestList(t *testing.T) {
	t.Parallel()
	f := newListFixture(t)
	ctx := t.Context()
	day := 24 * time.Hour
	longErr := "issue: acme: order is invalid: " + strings.Repeat("detail ", 60) + "the deepest cause"

	// CA A: a valid certificate whose state says when it renews.
	valid := f.cert(caA, f.now.Add(-10*day), 90*day, "valid.example.test", "www.valid.example.test")
	f.lineage(caA, "valid.example.test", "www.valid.example.test")
	planned := f.now.Add(47 * day).Truncate(time.Second)
	f.state(caA, "valid.example.test", map[string]any{"serial": valid, "next_renewal": planned, "renew_draw": 0.4})
	// CA A: asked for, never obtained.
	f.lineage(caA, "missing.example.test")
	retry := f.now.Add(time.Hour).Truncate(time.Second)
	f.state(caA, "missing.example.test", map[string]any{"last_error": longErr, "failures": 2, "next_renewal": retry})
	// CA A: a certificate whose state is of an earlier one.
	stale := f.cert(caA, f.now.Add(-30*day), 90*day, "stale.example.test")
	f.lineage(caA, "stale.example.test")
	f.state(caA, "stale.example.test", map[string]any{"serial": "1234", "next_renewal": f.now.Add(300 * day)})
	// CA A: expired, and due by its state.
	f.cert(caA, f.now.Add(-100*day), 90*day, "expired.example.test")
	f.lineage(caA, "expired.example.test")
	due := f.cert(caA, f.now.Add(-70*day), 90*day, "due.example.test")
	f.lineage(caA, "due.example.test")
	f.state(caA, "due.example.test", map[string]any{"serial": due, "next_renewal": f.now.Add(-time.Hour)})
	// CA B: revoked; and one stored without a lineage record or state.
	revoked := f.cert(caB, f.now.Add(-1*day), 90*day, "revoked.example.test")
	f.lineage(caB, "revoked.example.test")
	if err := f.certs.MarkRevoked(ctx, caB, "revoked.example.test", revoked, f.now, 4); err != nil {
		t.Fatal(err)
	}
	f.cert(caB, f.now.Add(-30*day), 90*day, "old.example.test")

	before := files(t, f.dir)
	entries, err := f.eng.List(ctx, engine.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after := files(t, f.dir); !slices.Equal(before, after) {
		t.Errorf("List changed the store:\nbefore %v\nafter  %v", before, after)
	}
	got := map[string]engine.Entry{}
	var order []string
	for _, e := range entries {
		got[e.Name] = e
		order = append(order, e.CA+" "+e.Name)
	}
	if !slices.IsSorted(order) || len(entries) != 7 {
		t.Fatalf("List: %d entries, want 7 sorted by CA and name: %v", len(entries), order)
	}

	e := got["valid.example.test"]
	if e.Status != engine.StatusValid || e.CA != caA || e.Account != "default" || !e.HasLineage ||
		!e.NextRenewal.Equal(planned) || !e.NextRenewalExact || e.Serial != valid || e.Issuer != "Test Issuer" ||
		e.DaysLeft != 80 || len(e.Identifiers) != 2 || len(e.CertIdentifiers) != 2 || e.Revoked != nil {
		t.Errorf("valid: %+v", e)
	}
	if e.Paths == nil || e.Paths.Cert == "" || !strings.HasPrefix(e.Paths.Cert, f.dir) {
		t.Errorf("valid: paths %+v", e.Paths)
	} else if _, err := os.Stat(e.Paths.Key); err != nil {
		t.Errorf("valid: key path: %v", err)
	}

	e = got["missing.example.test"]
	if e.Status != engine.StatusMissing || e.LastError != longErr || e.Failures != 2 ||
		!e.NotAfter.IsZero() || e.Serial != "" || !e.NextRenewal.Equal(retry) {
		t.Errorf("missing: %+v", e)
	}

	// The state is of another certificate: the lifetime rule, a third of
	// 90 days before the end, brought forward by the certificate's own
	// draw within the jitter (10% of 30 days).
	inJitter := func(got, latest time.Time) bool {
		return !got.After(latest) && got.After(latest.Add(-3*day))
	}
	e = got["stale.example.test"]
	if want := f.now.Add(-30 * day).Add(60 * day); e.Status != engine.StatusValid || e.Serial != stale || e.NextRenewalExact || !inJitter(e.NextRenewal, want) {
		t.Errorf("stale state: next renewal %v (exact %v), want %v: %+v", e.NextRenewal, e.NextRenewalExact, want, e)
	}
	e = got["expired.example.test"]
	if e.Status != engine.StatusExpired || !e.NextRenewal.Equal(f.now) || e.DaysLeft != -10 {
		t.Errorf("expired: %+v", e)
	}
	if e = got["due.example.test"]; e.Status != engine.StatusDue || !e.NextRenewalExact {
		t.Errorf("due: %+v", e)
	}

	e = got["revoked.example.test"]
	if e.Status != engine.StatusRevoked || e.CA != caB || e.Revoked == nil || e.Revoked.Reason != 4 || e.Revoked.Serial != revoked {
		t.Errorf("revoked: %+v", e)
	}
	e = got["old.example.test"]
	if e.Status != engine.StatusValid || e.HasLineage || e.CA != caB || e.NextRenewalExact || !inJitter(e.NextRenewal, f.now.Add(30*day)) {
		t.Errorf("stored without a lineage: %+v", e)
	}

	// -ca and names.
	entries, err = f.eng.List(ctx, engine.ListOptions{CA: caB})
	if err != nil || len(entries) != 2 || entries[0].CA != caB || entries[1].CA != caB {
		t.Errorf("List of CA B: %v, %+v", err, entries)
	}
	entries, err = f.eng.List(ctx, engine.ListOptions{Names: []string{"WWW.valid.example.test", "nope.example.test"}})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nope.example.test") {
		t.Errorf("List of an unknown name: error %v", err)
	}
	if len(entries) != 1 || entries[0].Name != "valid.example.test" {
		t.Errorf("List by name: %+v", entries)
	}
}

// A store that is not a directory has no paths; an empty store no
// entries, and no error.
func TestListMemoryStore(t *testing.T) {
	t.Parallel()
	m := store.NewMemory()
	eng, err := engine.New(engine.Config{Store: m})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if entries, err := eng.List(t.Context(), engine.ListOptions{}); err != nil || len(entries) != 0 {
		t.Errorf("empty store: %v, %+v", err, entries)
	}
	certs := &store.Certs{Store: m}
	if err := certs.SaveLineage(t.Context(), store.Lineage{Name: "m.example.test", CA: caA, Identifiers: []string{"m.example.test"}}); err != nil {
		t.Fatal(err)
	}
	entries, err := eng.List(t.Context(), engine.ListOptions{})
	if err != nil || len(entries) != 1 || entries[0].Paths != nil || entries[0].Status != engine.StatusMissing {
		t.Errorf("memory store: %v, %+v", err, entries)
	}
}

// A revoked certificate is due at once, but not before the next attempt
// after a failed renewal: List says when renew and the daemon will try,
// as it does for the others.
func TestListRevokedBackingOff(t *testing.T) {
	t.Parallel()
	f := newListFixture(t)
	ctx := t.Context()
	day := 24 * time.Hour
	serial := f.cert(caA, f.now.Add(-1*day), 90*day, "revoked.example.test")
	f.lineage(caA, "revoked.example.test")
	if err := f.certs.MarkRevoked(ctx, caA, "revoked.example.test", serial, f.now, 4); err != nil {
		t.Fatal(err)
	}
	retry := f.now.Add(5 * time.Minute).Truncate(time.Second)
	f.state(caA, "revoked.example.test", map[string]any{"serial": serial, "last_error": "issue: refused", "failures": 1, "next_renewal": retry})
	for _, opts := range []engine.ListOptions{{}, {Names: []string{"revoked.example.test"}}} {
		entries, err := f.eng.List(ctx, opts)
		if err != nil || len(entries) != 1 {
			t.Fatalf("List(%+v) = %+v, %v", opts, entries, err)
		}
		if e := entries[0]; e.Status != engine.StatusRevoked || !e.NextRenewal.Equal(retry) {
			t.Errorf("List(%+v): status %s, next renewal %v; want revoked, next renewal at the retry %v", opts, e.Status, e.NextRenewal, retry)
		}
	}
}
