package engine_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/certkeeper/certkeeper/engine"
)

// FindLineage finds a certificate by its name, as given or as ordered,
// and says with typed errors when there is none or several.
func TestFindLineage(t *testing.T) {
	f := newListFixture(t)
	const caA, caB = "https://a.example.test/dir", "https://b.example.test/dir"
	f.lineage(caA, "www.example.test")
	f.lineage(caA, "both.example.test")
	f.lineage(caB, "both.example.test")
	ctx := t.Context()

	for _, name := range []string{"www.example.test", "WWW.example.test."} {
		l, err := f.eng.FindLineage(ctx, name, "", caA)
		if err != nil || l.Name != "www.example.test" || l.CA != caA {
			t.Errorf("FindLineage(%q) = %+v, %v", name, l, err)
		}
	}
	_, err := f.eng.FindLineage(ctx, "nope.example.test", "", caA)
	var none *engine.NoCertificateError
	if !errors.As(err, &none) || !errors.Is(err, fs.ErrNotExist) || none.ReadErr != nil || none.Name != "nope.example.test" {
		t.Errorf("missing name: %v (%T)", err, err)
	}
	_, err = f.eng.FindLineage(ctx, "both.example.test", "", caA)
	var amb *engine.AmbiguousNameError
	if !errors.As(err, &amb) || !slices.Contains(amb.CAs, caA) || !slices.Contains(amb.CAs, caB) {
		t.Errorf("name from two CAs: %v (%T)", err, err)
	}
	if l, err := f.eng.FindLineage(ctx, "both.example.test", caB, caA); err != nil || l.CA != caB {
		t.Errorf("name from two CAs, one named: %+v, %v", l, err)
	}
}

// LineageOf matches a certificate file to the lineage it is a version
// of, by names and serial, and reports what it could not read instead of
// dropping it.
func TestLineageOf(t *testing.T) {
	f := newListFixture(t)
	const ca = "https://a.example.test/dir"
	f.lineage(ca, "www.example.test")
	f.cert(ca, f.now, 90*24*60*60*1e9, "www.example.test")
	r, err := f.certs.LoadCertificate(t.Context(), ca, "www.example.test")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(r.ChainPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	l, ok, err := f.eng.LineageOf(t.Context(), leaf, "", ca)
	if !ok || err != nil || l.Name != "www.example.test" {
		t.Fatalf("LineageOf = %+v, %v, %v", l, ok, err)
	}

	// A lineage record that cannot be read: the error says so (the
	// certificate may still be matched, under a record made up for it).
	var recs []string
	_ = filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(p) == "lineage.json" {
			recs = append(recs, p)
		}
		return nil
	})
	if len(recs) != 1 {
		t.Fatalf("lineage records %v", recs)
	}
	if err := os.WriteFile(recs[0], []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err = f.eng.LineageOf(t.Context(), leaf, "", ca); err == nil {
		t.Error("an unreadable lineage record: no error")
	}
}
