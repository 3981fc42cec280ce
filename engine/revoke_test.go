package engine_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
)

// revokeEnv is an engine over a store (dir) that counts the revocation
// requests it sends.
type revokeEnv struct {
	*engine.Engine
	mu    sync.Mutex
	posts []acme.RequestInfo
}

func (e *env) revokeEngine(dir string, wrap func(store.Store) store.Store) *revokeEnv {
	e.t.Helper()
	d, err := store.NewDir(dir)
	if err != nil {
		e.t.Fatal(err)
	}
	var st store.Store = d
	if wrap != nil {
		st = wrap(st)
	}
	r := &revokeEnv{}
	eng, err := engine.New(engine.Config{
		Store: st, Manager: manager.Config{RescueDir: e.rescue},
		OnRequest: func(ri acme.RequestInfo) {
			if ri.Endpoint == "revokeCert" {
				r.mu.Lock()
				r.posts = append(r.posts, ri)
				r.mu.Unlock()
			}
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { eng.Close() })
	r.Engine = eng
	return r
}

// revocations returns the revocation requests sent so far.
func (r *revokeEnv) revocations() []acme.RequestInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]acme.RequestInfo(nil), r.posts...)
}

// caStatus asks Pebble's management interface what it holds of the
// certificate with the hexadecimal serial: "Valid" or "Revoked", and the
// revocation reason code if it has one.
func (e *env) caStatus(serial string) (status string, reason *int) {
	e.t.Helper()
	status, reason, err := e.pebble.CertificateStatus(e.t.Context(), serial)
	if err != nil {
		e.t.Fatal(err)
	}
	return status, reason
}

// listed returns the entry List gives for name.
func listed(t *testing.T, eng *engine.Engine, name string) engine.Entry {
	t.Helper()
	entries, err := eng.List(ctxT(t), engine.ListOptions{Names: []string{name}})
	if err != nil || len(entries) != 1 {
		t.Fatalf("List(%s) = %+v, %v", name, entries, err)
	}
	return entries[0]
}

// Revoke sends the revocation signed by the account that obtained the
// certificate and records it (List: revoked, with time and reason); the
// CA's alreadyRevoked, for a certificate revoked through a copy of the
// store, is a success recorded once: a second Revoke keeps the first
// record.
func TestRevokeRecordsAndAlreadyRevoked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	const name = "revoke.example.test"
	r, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: e.lineage(name, "www."+name), Account: agree})
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup")
	if err := os.CopyFS(backup, os.DirFS(e.dir)); err != nil {
		t.Fatal(err)
	}

	// Through the copy: sent, recorded there.
	cp := e.revokeEngine(backup, nil)
	res, err := cp.Revoke(ctx, engine.RevokeRequest{Name: "REVOKE.example.test", Reason: acme.ReasonSuperseded})
	if err != nil || res.AlreadyRevoked || !res.Recorded || !res.Stored || res.Name != name || res.Serial != r.Serial ||
		res.CA != e.pebble.DirectoryURL || len(res.Identifiers) != 2 {
		t.Fatalf("Revoke = %+v, %v; want %s (serial %s) revoked and recorded", res, err, name, r.Serial)
	}
	if p := cp.revocations(); len(p) != 1 || p[0].Status != http.StatusOK {
		t.Errorf("revocation requests %+v, want one answered 200", p)
	}
	if st, reason := e.caStatus(r.Serial); st != "Revoked" || reason == nil || *reason != int(acme.ReasonSuperseded) {
		t.Errorf("the CA says %s, reason %v; want Revoked, 4 (superseded)", st, reason)
	}
	if en := listed(t, cp.Engine, name); en.Status != engine.StatusRevoked || en.Revoked == nil || en.Revoked.Reason != 4 {
		t.Errorf("List of the copy after Revoke: %+v", en)
	}

	// Through the store itself, which does not know: alreadyRevoked,
	// recorded now.
	eng := e.revokeEngine(e.dir, nil)
	if en := listed(t, eng.Engine, name); en.Status == engine.StatusRevoked {
		t.Fatalf("the store knows of the copy's revocation: %+v", en)
	}
	res, err = eng.Revoke(ctx, engine.RevokeRequest{Name: name})
	if err != nil || !res.AlreadyRevoked || !res.Recorded || res.Serial != r.Serial {
		t.Fatalf("Revoke of a certificate the CA had revoked = %+v, %v; want alreadyRevoked, recorded", res, err)
	}
	if p := eng.revocations(); len(p) != 1 || p[0].Status != http.StatusBadRequest {
		t.Errorf("revocation requests %+v, want one answered 400 (alreadyRevoked)", p)
	}
	first := listed(t, eng.Engine, name)
	if first.Status != engine.StatusRevoked || first.Revoked == nil || first.Revoked.Serial != r.Serial {
		t.Fatalf("List after alreadyRevoked: %+v, want it revoked", first)
	}

	// Again: still a success, the first record kept.
	res, err = eng.Revoke(ctx, engine.RevokeRequest{Name: name, Reason: acme.ReasonKeyCompromise})
	if err != nil || !res.AlreadyRevoked || res.Recorded {
		t.Fatalf("second Revoke = %+v, %v; want alreadyRevoked, not recorded again", res, err)
	}
	if again := listed(t, eng.Engine, name); again.Revoked == nil || !again.Revoked.At.Equal(first.Revoked.At) || again.Revoked.Reason != first.Revoked.Reason {
		t.Errorf("second Revoke changed the record: %+v, was %+v", again.Revoked, first.Revoked)
	}

	// Once more, through a store that cannot be written (a read-only
	// mount): the record answers, nothing is sent, and it is a success
	// (it was refused at every run, "run it again until it exits 0").
	ro := e.revokeEngine(e.dir, func(s store.Store) store.Store { return unwritable{s} })
	res, err = ro.Revoke(ctx, engine.RevokeRequest{Name: name})
	if err != nil || !res.AlreadyRevoked || res.Recorded || !res.At.Equal(first.Revoked.At) {
		t.Fatalf("Revoke of a certificate the store records revoked, store read-only = %+v, %v; want alreadyRevoked from the record", res, err)
	}
	if p := ro.revocations(); len(p) != 0 {
		t.Errorf("revocation requests %+v, want none (the store records it)", p)
	}
}

// unwritable is a store that says it cannot be written.
type unwritable struct{ store.Store }

var errReadOnly = errors.New("read-only file system")

func (unwritable) CheckWritable(context.Context) error { return errReadOnly }

// A store that cannot record the revocation stops it before anything is
// sent, with a *RevocationRecordError (Sent false) wrapping the store's
// error; so do a missing account, a missing or wrong certificate key,
// and a bad reason code. Nothing registers an account.
func TestRevokeRefusesBeforeSending(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	const name = "refuse.example.test"
	r, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: e.lineage(name), Account: agree})
	if err != nil {
		t.Fatal(err)
	}
	ro := e.revokeEngine(e.dir, func(s store.Store) store.Store { return unwritable{s} })
	_, err = ro.Revoke(ctx, engine.RevokeRequest{Name: name})
	var rec *engine.RevocationRecordError
	if !errors.As(err, &rec) || rec.Sent || rec.Name != name || !errors.Is(err, errReadOnly) {
		t.Errorf("Revoke on a store that cannot record it: %v, want a *RevocationRecordError, not sent, wrapping the store's error", err)
	}

	eng := e.revokeEngine(e.dir, nil)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var noAcct *engine.NoAccountError
	var local *engine.LocalError
	for _, tc := range []struct {
		what string
		req  engine.RevokeRequest
		ok   func(error) bool
	}{
		{"an account the store does not have", engine.RevokeRequest{Name: name, Account: "nobody@example.test"},
			func(err error) bool {
				return errors.As(err, &noAcct) && noAcct.ID == "nobody@example.test" && errors.Is(err, fs.ErrNotExist)
			}},
		{"a key that is not the certificate's", engine.RevokeRequest{Name: name, WithCertKey: true, CertKey: other},
			func(err error) bool { return errors.Is(err, engine.ErrCertKeyMismatch) }},
		{"a certificate key without WithCertKey", engine.RevokeRequest{Name: name, CertKey: other},
			func(err error) bool { return errors.As(err, &local) && local.What == "revoke" }},
		{"reason 7", engine.RevokeRequest{Name: name, Reason: 7},
			func(err error) bool { return errors.As(err, &local) && local.What == "reason" }},
		{"a name the store does not have", engine.RevokeRequest{Name: "nosuch.example.test"},
			func(err error) bool { var nc *engine.NoCertificateError; return errors.As(err, &nc) }},
	} {
		if _, err := eng.Revoke(ctx, tc.req); !tc.ok(err) {
			t.Errorf("Revoke with %s: %v", tc.what, err)
		}
	}
	if p := append(ro.revocations(), eng.revocations()...); len(p) != 0 {
		t.Errorf("%d revocation request(s) sent: %+v", len(p), p)
	}
	if st, _ := e.caStatus(r.Serial); st != "Valid" {
		t.Errorf("the CA says %s, want Valid", st)
	}
	if accts, err := eng.Certs().ListAccounts(ctx, ""); err != nil || len(accts) != 1 {
		t.Errorf("accounts after the refusals: %+v, %v; want the one that obtained it", accts, err)
	}
}

// A certificate the store does not keep (a file) is revoked with its own
// key at the CA named, and recorded nowhere.
func TestRevokeCertificateWithItsKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	const name = "file.example.test"
	if _, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: e.lineage(name), Account: agree}); err != nil {
		t.Fatal(err)
	}
	rec, err := e.engine(nil).Certs().LoadCertificate(ctx, e.pebble.DirectoryURL, name)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := keys.ParseCertificates(rec.ChainPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := keys.ParsePEM(rec.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	empty := e.revokeEngine(filepath.Join(t.TempDir(), "empty"), nil)
	req := engine.RevokeRequest{Certificate: chain[0], CA: e.pebble.DirectoryURL, CARoot: e.root, WithCertKey: true, Reason: acme.ReasonKeyCompromise}
	if _, err := empty.Revoke(ctx, engine.RevokeRequest{Certificate: chain[0], CA: e.pebble.DirectoryURL, CARoot: e.root, WithCertKey: true}); !errors.Is(err, engine.ErrNoCertificateKey) {
		t.Errorf("Revoke with the certificate's key, none given: %v, want ErrNoCertificateKey", err)
	}
	req.CertKey = key
	res, err := empty.Revoke(ctx, req)
	if err != nil || res.Stored || res.Recorded || res.AlreadyRevoked || res.Name != name || res.Serial != chain[0].SerialNumber.Text(16) {
		t.Fatalf("Revoke of a certificate the store does not keep = %+v, %v", res, err)
	}
	if st, reason := e.caStatus(res.Serial); st != "Revoked" || reason == nil || *reason != 1 {
		t.Errorf("the CA says %s, reason %v; want Revoked, 1 (keyCompromise)", st, reason)
	}
	if p := empty.revocations(); len(p) != 1 {
		t.Errorf("revocation requests %+v, want one", p)
	}
}
