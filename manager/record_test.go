package manager_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
)

// RecordOf keeps what the manager and its readers rely on: what is saved
// loads back as the same leaf with its key, from the Spec's CA, with the
// order's certificate URL, profile and time; a CSR order keeps no key.
func TestRecordOfRoundTrip(t *testing.T) {
	ctx := ctxT(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := issue.ParseIdentifiers("rec.example.com", "www.rec.example.com")
	if err != nil {
		t.Fatal(err)
	}
	ic, err := makeCert(ids, 7, t0, t0.Add(90*24*time.Hour), key)
	if err != nil {
		t.Fatal(err)
	}
	spec := testCert("rec.example.com", "www.rec.example.com")
	spec.Name = "rec"
	spec.Profile = "shortlived"
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))

	res, err := manager.RecordOf(spec, ic, at)
	if err != nil {
		t.Fatal(err)
	}
	certs := &store.Certs{Store: store.NewMemory()}
	if err := certs.SaveCertificate(ctx, res); err != nil {
		t.Fatal(err)
	}
	got, err := certs.LoadCertificate(ctx, testCA, "rec")
	if err != nil {
		t.Fatal(err)
	}
	if got.CA != testCA || got.CertURL != ic.Chain.URL || got.Profile != "shortlived" || !got.ObtainedAt.Equal(at) || got.ObtainedAt.Location() != time.UTC {
		t.Errorf("loaded CA %q CertURL %q Profile %q ObtainedAt %v, want %q %q %q %v in UTC",
			got.CA, got.CertURL, got.Profile, got.ObtainedAt, testCA, ic.Chain.URL, "shortlived", at)
	}
	if !store.SameIdentifiers(got.Identifiers, []string{"rec.example.com", "www.rec.example.com"}) {
		t.Errorf("identifiers %v", got.Identifiers)
	}
	if len(got.Certificates) == 0 || !bytes.Equal(got.Certificates[0].Raw, ic.Leaf.Raw) {
		t.Fatal("the loaded leaf is not the issued one")
	}
	if k, ok := got.Key.(*ecdsa.PrivateKey); !ok || !k.Equal(key) {
		t.Errorf("loaded key %T is not the issued one", got.Key)
	}

	// An order for a user's CSR: the user keeps the key, the record has none.
	csr := *ic
	csr.Key = nil
	res, err = manager.RecordOf(spec, &csr, at)
	if err != nil {
		t.Fatal(err)
	}
	if res.KeyPEM != nil {
		t.Errorf("a CSR order's record has a key")
	}

	// No identifiers in the result: the Spec's are kept.
	bare := *ic
	bare.Identifiers = nil
	if res, err = manager.RecordOf(spec, &bare, at); err != nil || len(res.Identifiers) != 2 || res.Identifiers[0] != "rec.example.com" {
		t.Errorf("RecordOf without identifiers: %v, %v", res.Identifiers, err)
	}
	if _, err := manager.RecordOf(spec, nil, at); err == nil {
		t.Error("RecordOf(nil) did not fail")
	}
}
