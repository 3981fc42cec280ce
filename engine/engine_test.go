package engine_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/solver/solverset"
	"github.com/certkeeper/certkeeper/store"
)

// env is one Pebble and one directory store.
type env struct {
	t      *testing.T
	pebble *acmetest.Pebble
	root   string // the Pebble's TLS root, a file
	dir    string // the store
	rescue string // manager.Config.RescueDir
}

func newEnv(t *testing.T) *env {
	t.Helper()
	p := acmetest.NewTestPebble(t, acmetest.PebbleOptions{})
	d := t.TempDir()
	root := filepath.Join(d, "root.pem")
	if err := os.WriteFile(root, p.TLSRootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, pebble: p, root: root, dir: filepath.Join(d, "store"), rescue: t.TempDir()}
}

// engine opens a new engine (as a new process would) over the store.
func (e *env) engine(wrap func(store.Store) store.Store) *engine.Engine {
	e.t.Helper()
	d, err := store.NewDir(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	var st store.Store = d
	if wrap != nil {
		st = wrap(st)
	}
	eng, err := engine.New(engine.Config{Store: st, Manager: manager.Config{RescueDir: e.rescue}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { eng.Close() })
	return eng
}

// lineage is a certificate for names answered by http-01 on Pebble's
// validation port.
func (e *env) lineage(names ...string) store.Lineage {
	l := store.Lineage{CA: e.pebble.DirectoryURL, CARoot: e.root, Identifiers: names}
	if err := engine.SetSolvers(&l, solverset.Config{HTTP01: &solverset.HTTP01{Listen: fmt.Sprintf("127.0.0.1:%d", e.pebble.HTTPPort)}}); err != nil {
		e.t.Fatal(err)
	}
	return l
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var agree = engine.AccountOptions{AgreeTOS: true}

func TestObtainRecordsLineageAndDoesNotOrderTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	eng := e.engine(nil)
	l := e.lineage("a.example.test", "www.a.example.test")
	l.KeyType = "rsa2048"
	r, err := eng.Obtain(ctx, engine.Request{Lineage: l, Account: agree})
	if err != nil || r.Outcome != engine.Obtained || r.Serial == "" {
		t.Fatalf("Obtain = %+v, %v", r, err)
	}
	rec, err := eng.Certs().LoadLineage(ctx, e.pebble.DirectoryURL, "a.example.test")
	if err != nil || rec.KeyType != "rsa2048" || rec.Account != "default" || len(rec.Solvers) == 0 || rec.CARoot != e.root {
		t.Fatalf("lineage = %+v, %v", rec, err)
	}

	// A new process asking again for the same names orders nothing.
	r2, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: l, Account: agree})
	if err != nil || r2.Outcome != engine.StillValid || r2.Serial != r.Serial {
		t.Fatalf("second Obtain = %+v, %v; want still valid with serial %s", r2, err, r.Serial)
	}

	// Fewer names: refused, nothing changed.
	_, err = e.engine(nil).Obtain(ctx, engine.Request{Lineage: e.lineage("a.example.test"), Account: agree})
	var ne *engine.NamesError
	if !errors.As(err, &ne) || ne.Expanding {
		t.Fatalf("Obtain with fewer names: %v, want a *NamesError", err)
	}
	// More names: refused without leave, ordered with NamesExpand.
	more := e.lineage("a.example.test", "www.a.example.test", "b.example.test")
	if _, err = e.engine(nil).Obtain(ctx, engine.Request{Lineage: more, Account: agree}); !errors.As(err, &ne) || !ne.Expanding {
		t.Fatalf("Obtain with more names: %v, want a *NamesError that says expand", err)
	}
	r3, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: more, Account: agree, Names: engine.NamesExpand})
	if err != nil || r3.Outcome != engine.Obtained || len(r3.Identifiers) != 3 {
		t.Fatalf("Obtain with NamesExpand = %+v, %v", r3, err)
	}
	res, err := eng.Certs().LoadCertificate(ctx, e.pebble.DirectoryURL, "a.example.test")
	if err != nil || !store.SameIdentifiers(res.Identifiers, more.Identifiers) {
		t.Fatalf("stored: %v, %v", res.Identifiers, err)
	}
}

func TestRenewAsObtained(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	l := e.lineage("r.example.test")
	l.KeyType = "rsa2048"
	if _, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: l, Account: agree}); err != nil {
		t.Fatal(err)
	}
	before := e.stored(ctx, "r.example.test")

	// Not due: nothing ordered.
	rs, err := e.engine(nil).Renew(ctx, engine.RenewOptions{})
	if err != nil || len(rs) != 1 || rs[0].Outcome != engine.NotDue {
		t.Fatalf("Renew = %+v, %v", rs, err)
	}
	// Forced, knowing nothing but the store: the same key type, account
	// and solvers.
	rs, err = e.engine(nil).Renew(ctx, engine.RenewOptions{Force: true})
	if err != nil || len(rs) != 1 || rs[0].Outcome != engine.Renewed {
		t.Fatalf("Renew -force = %+v, %v", rs, err)
	}
	after := e.stored(ctx, "r.example.test")
	if after.Certificates[0].SerialNumber.Cmp(before.Certificates[0].SerialNumber) == 0 {
		t.Fatal("not renewed")
	}
	if k, ok := after.Key.(*rsa.PrivateKey); !ok || k.N.BitLen() != 2048 {
		t.Fatalf("renewed key is %T, want RSA 2048", after.Key)
	}
	// An override for one run, not recorded.
	rs, err = e.engine(nil).Renew(ctx, engine.RenewOptions{Force: true, Override: func(l *store.Lineage) error { l.KeyType = "ec384"; return nil }})
	if err != nil || rs[0].Outcome != engine.Renewed {
		t.Fatalf("Renew with override = %+v, %v", rs, err)
	}
	if tp, _ := keys.TypeOf(e.stored(ctx, "r.example.test").Key.Public()); tp != keys.EC384 {
		t.Fatalf("override: key type %s", tp)
	}
	if rec, _ := e.engine(nil).Certs().LoadLineage(ctx, e.pebble.DirectoryURL, "r.example.test"); rec.KeyType != "rsa2048" {
		t.Fatalf("the override changed the lineage: %+v", rec)
	}
}

func (e *env) stored(ctx context.Context, name string) store.CertRecord {
	e.t.Helper()
	d, err := store.NewDir(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := (&store.Certs{Store: d}).LoadCertificate(ctx, e.pebble.DirectoryURL, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// Two processes obtaining one certificate at once place one order.
func TestConcurrentObtainOneOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	// The first account is registered before, so that the two do not
	// race to register.
	if _, err := e.engine(nil).Account(ctx, e.pebble.DirectoryURL, e.root, agree); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	serials := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		eng := e.engine(nil)
		wg.Go(func() {
			r, err := eng.Obtain(ctx, engine.Request{Lineage: e.lineage("c.example.test"), Account: agree})
			serials[i], errs[i] = r.Serial, err
		})
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || serials[0] != serials[1] || serials[0] == "" {
		t.Fatalf("serials %v, errors %v: want one certificate", serials, errs)
	}
}

// A store that refuses the certificate: the CA's certificate is rescued
// to a file, and the error says where.
func TestObtainRescuesWhatTheStoreRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	var refuse atomic.Bool
	eng := e.engine(func(s store.Store) store.Store { return &refusing{Store: s, refuse: &refuse} })
	refuse.Store(true)
	_, err := eng.Obtain(ctx, engine.Request{Lineage: e.lineage("s.example.test"), Account: agree})
	var re *manager.RescuedError
	if !errors.As(err, &re) {
		t.Fatalf("Obtain = %v, want a *manager.RescuedError", err)
	}
	data, rerr := os.ReadFile(re.Path)
	if rerr != nil || !strings.Contains(string(data), "PRIVATE KEY") || !strings.Contains(string(data), "CERTIFICATE") {
		t.Fatalf("rescued file %s: %v", re.Path, rerr)
	}
	if fi, _ := os.Stat(re.Path); fi.Mode().Perm() != 0o600 {
		t.Errorf("rescued file mode %v", fi.Mode())
	}
}

// refusing fails every write of a certificate's chain while refuse is set.
type refusing struct {
	store.Store
	refuse *atomic.Bool
}

func (r *refusing) Put(ctx context.Context, key string, value []byte) error {
	if r.refuse.Load() && strings.HasPrefix(key, "certificates/") && !strings.HasSuffix(key, "lineage.json") {
		return &fs.PathError{Op: "put", Path: key, Err: errors.New("disk full")}
	}
	return r.Store.Put(ctx, key, value)
}

// The CA no longer knows the stored account (a reset CA): the next order
// registers a new one with the same key, and succeeds.
func TestAccountTheCAForgot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	eng := e.engine(nil)
	acct, err := eng.Account(ctx, e.pebble.DirectoryURL, e.root, agree)
	if err != nil {
		t.Fatal(err)
	}
	// Make the stored account one the CA does not know.
	keyPEM, _ := keys.MarshalPEM(acct.Key)
	gone := acct.URL + "0"
	if err := eng.Certs().SaveAccount(ctx, e.pebble.DirectoryURL, "", store.AccountRecord{URL: gone, KeyPEM: keyPEM}); err != nil {
		t.Fatal(err)
	}
	eng2 := e.engine(nil)
	r, err := eng2.Obtain(ctx, engine.Request{Lineage: e.lineage("f.example.test"), Account: agree})
	if err != nil || r.Outcome != engine.Obtained {
		t.Fatalf("Obtain with a forgotten account = %+v, %v", r, err)
	}
	rec, err := eng2.Certs().LoadAccount(ctx, e.pebble.DirectoryURL, "")
	if err != nil || rec.URL == gone || rec.URL == "" {
		t.Fatalf("stored account after re-registration: %+v, %v", rec, err)
	}
}

// A key stored without an account URL (a registration whose answer was
// lost, or another program's key) is looked up or registered, not lost.
func TestAccountKeyWithoutURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	eng := e.engine(nil)
	key, _ := keys.Generate(keys.EC256)
	keyPEM, _ := keys.MarshalPEM(key)
	if err := eng.Certs().SaveAccount(ctx, e.pebble.DirectoryURL, "", store.AccountRecord{KeyPEM: keyPEM}); err != nil {
		t.Fatal(err)
	}
	acct, err := eng.Account(ctx, e.pebble.DirectoryURL, e.root, engine.AccountOptions{})
	if err != nil || acct.URL == "" {
		t.Fatalf("Account = %+v, %v", acct, err)
	}
	if got, _ := keys.MarshalPEM(acct.Key); string(got) != string(keyPEM) {
		t.Error("the account was registered with another key than the stored one")
	}
	rec, _ := eng.Certs().LoadAccount(ctx, e.pebble.DirectoryURL, "")
	if rec.URL != acct.URL {
		t.Errorf("stored URL %q, want %q", rec.URL, acct.URL)
	}
}

// Local checks come before anything is sent: a busy port, a CSR for other
// names, no solver.
func TestObtainLocalChecksFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	eng := e.engine(nil)
	l := e.lineage("l.example.test")
	if err := engine.SetSolvers(&l, solverset.Config{HTTP01: &solverset.HTTP01{Webroot: filepath.Join(t.TempDir(), "missing", "root")}}); err != nil {
		t.Fatal(err)
	}
	_, err := eng.Obtain(ctx, engine.Request{Lineage: l, Account: agree})
	var le *engine.LocalError
	if !errors.As(err, &le) {
		t.Fatalf("Obtain with a missing webroot = %v, want a *LocalError", err)
	}
	if _, serr := os.Stat(filepath.Dir(filepath.Dir(l.CARoot)) + "/missing"); serr == nil {
		t.Error("the webroot was created")
	}
	// Nothing was registered: no account in the store; and a first
	// obtain that failed leaves no lineage record behind.
	if accts, _ := eng.Certs().ListAccounts(ctx, ""); len(accts) != 0 {
		t.Errorf("accounts after a local failure: %+v", accts)
	}
	if _, err := eng.Certs().LoadLineage(ctx, e.pebble.DirectoryURL, "l.example.test"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lineage after a failed first obtain: %v, want none", err)
	}
	// Fixed, the next Obtain orders at once (no backoff, no "still
	// valid" for a certificate never obtained).
	r, err := eng.Obtain(ctx, engine.Request{Lineage: e.lineage("l.example.test"), Account: agree})
	if err != nil || r.Outcome != engine.Obtained {
		t.Fatalf("Obtain after a failed first attempt = %+v, %v", r, err)
	}
	l = e.lineage("l.example.test")
	l.Solvers = nil
	if _, err := eng.Obtain(ctx, engine.Request{Lineage: l, Account: agree}); !errors.Is(err, engine.ErrNoSolver) {
		t.Errorf("Obtain without solvers = %v, want ErrNoSolver", err)
	}
}

// account register on an account the CA forgot registers a new one;
// a rollover stores the new key.
func TestVerifyAndRolloverAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	eng := e.engine(nil)
	acct, err := eng.Account(ctx, e.pebble.DirectoryURL, e.root, agree)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := keys.MarshalPEM(acct.Key)
	gone := acct.URL + "0"
	if err := eng.Certs().SaveAccount(ctx, e.pebble.DirectoryURL, "", store.AccountRecord{URL: gone, KeyPEM: keyPEM}); err != nil {
		t.Fatal(err)
	}
	eng = e.engine(nil)
	got, err := eng.VerifyAccount(ctx, e.pebble.DirectoryURL, e.root, agree)
	if err != nil || got.URL == gone || got.Status != "valid" {
		t.Fatalf("VerifyAccount = %+v, %v", got, err)
	}
	newKey, _ := keys.Generate(keys.EC384)
	rolled, err := eng.RolloverAccount(ctx, e.pebble.DirectoryURL, e.root, agree, newKey)
	if err != nil || rolled.URL != got.URL {
		t.Fatalf("RolloverAccount = %+v, %v", rolled, err)
	}
	rec, _ := eng.Certs().LoadAccount(ctx, e.pebble.DirectoryURL, "")
	stored, _ := keys.ParsePEM(rec.KeyPEM)
	if tp, _ := keys.TypeOf(stored.Public()); tp != keys.EC384 || rec.URL != got.URL {
		t.Fatalf("stored after rollover: %s %s", tp, rec.URL)
	}
	if left, _ := filepath.Glob(filepath.Join(e.rescue, "certkeeper-account-key-*")); len(left) > 0 {
		t.Errorf("the new key's safety copy was left behind: %v", left)
	}
}

// The same name at two CAs in one store: Renew renews each at its own CA.
func TestRenewSameNameTwoCAs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := newEnv(t)
	other.dir = e.dir // one store
	ctx := ctxT(t)
	for _, x := range []*env{e, other} {
		if _, err := x.engine(nil).Obtain(ctx, engine.Request{Lineage: x.lineage("same.example.test"), Account: agree}); err != nil {
			t.Fatal(err)
		}
	}
	before := [2]string{e.stored(ctx, "same.example.test").Certificates[0].SerialNumber.String(), other.stored(ctx, "same.example.test").Certificates[0].SerialNumber.String()}
	rs, err := e.engine(nil).Renew(ctx, engine.RenewOptions{Force: true})
	if err != nil || len(rs) != 2 || rs[0].Outcome != engine.Renewed || rs[1].Outcome != engine.Renewed || rs[0].CA == rs[1].CA {
		t.Fatalf("Renew = %+v, %v; want both renewed, one per CA", rs, err)
	}
	after := [2]string{e.stored(ctx, "same.example.test").Certificates[0].SerialNumber.String(), other.stored(ctx, "same.example.test").Certificates[0].SerialNumber.String()}
	if after[0] == before[0] || after[1] == before[1] {
		t.Errorf("serials before %v, after %v: want both changed", before, after)
	}
}

// A certificate revoked (as "certkeeper revoke" records it) is due at once,
// and after a key compromise its key is not reused, whatever ReuseKey says.
func TestRevokedIsDueWithANewKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	l := e.lineage("rev.example.test")
	l.ReuseKey = true
	if _, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: l, Account: agree}); err != nil {
		t.Fatal(err)
	}
	before := e.stored(ctx, "rev.example.test")
	eng := e.engine(nil)
	if err := eng.Certs().MarkRevoked(ctx, e.pebble.DirectoryURL, "rev.example.test", before.Certificates[0].SerialNumber.Text(16), time.Now(), 1); err != nil {
		t.Fatal(err)
	}
	rs, err := eng.Renew(ctx, engine.RenewOptions{})
	if err != nil || len(rs) != 1 || rs[0].Outcome != engine.Renewed {
		t.Fatalf("Renew of a revoked certificate = %+v, %v; want renewed at once", rs, err)
	}
	after := e.stored(ctx, "rev.example.test")
	oldPub, _ := keys.MarshalPEM(before.Key)
	newPub, _ := keys.MarshalPEM(after.Key)
	if string(oldPub) == string(newPub) {
		t.Error("the compromised key was reused")
	}
}

// Damaged records (a truncated account.json, a truncated lineage.json,
// as a full disk leaves them) do not stop the engine: the account is
// found again by its key and its record rewritten; obtaining the
// certificate again replaces the lineage record.
func TestDamagedRecordsReplaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	eng := e.engine(nil)
	l := e.lineage("d.example.test")
	r, err := eng.Obtain(ctx, engine.Request{Lineage: l, Account: agree})
	if err != nil || r.Outcome != engine.Obtained {
		t.Fatalf("Obtain = %+v, %v", r, err)
	}
	acct, err := eng.Account(ctx, e.pebble.DirectoryURL, e.root, agree)
	if err != nil {
		t.Fatal(err)
	}
	caDir, err := store.CADirName(e.pebble.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	truncate := func(p string) {
		t.Helper()
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data[:len(data)/2], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	truncate(filepath.Join(e.dir, "accounts", caDir, "default", "account.json"))
	truncate(filepath.Join(e.dir, "certificates", caDir, "d.example.test", "lineage.json"))

	eng2 := e.engine(nil)
	got, err := eng2.Account(ctx, e.pebble.DirectoryURL, e.root, agree)
	if err != nil || got.URL != acct.URL {
		t.Fatalf("Account with a truncated account.json = %+v, %v; want URL %s", got, err, acct.URL)
	}
	if rec, err := eng2.Certs().LoadAccount(ctx, e.pebble.DirectoryURL, ""); err != nil || rec.URL != acct.URL {
		t.Errorf("account record after the lookup: %+v, %v", rec, err)
	}
	r2, err := eng2.Obtain(ctx, engine.Request{Lineage: l, Account: agree})
	if err != nil {
		t.Fatalf("Obtain over a truncated lineage.json: %v", err)
	}
	if r2.Serial != r.Serial {
		t.Logf("Obtain over a truncated lineage.json ordered again (%v)", r2.Outcome)
	}
	if rec, err := eng2.Certs().LoadLineage(ctx, e.pebble.DirectoryURL, "d.example.test"); err != nil || !store.SameIdentifiers(rec.Identifiers, l.Identifiers) {
		t.Errorf("lineage after Obtain: %+v, %v", rec, err)
	}
}

// A certificate name in capitals is the same name to the store, which
// keeps names in lower case: it is recorded, listed and renewed once,
// under the name the store keeps.
func TestObtainCertNameInCapitals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	l := e.lineage("m.example.test")
	l.Name = "MyCert"
	r, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: l, Account: agree})
	if err != nil || r.Outcome != engine.Obtained || r.Name != "mycert" {
		t.Fatalf("Obtain = %+v, %v; want obtained as mycert", r, err)
	}
	eng := e.engine(nil)
	entries, err := eng.List(ctx, engine.ListOptions{})
	if err != nil || len(entries) != 1 || entries[0].Name != "mycert" || entries[0].Status != engine.StatusValid {
		t.Fatalf("List = %+v, %v; want one valid certificate, mycert", entries, err)
	}
	rec, err := eng.Certs().LoadLineage(ctx, e.pebble.DirectoryURL, "MyCert")
	if err != nil || rec.Name != "mycert" {
		t.Fatalf("lineage = %+v, %v; want the name mycert", rec, err)
	}
	r2, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: l, Account: agree})
	if err != nil || r2.Outcome != engine.StillValid || r2.Serial != r.Serial {
		t.Fatalf("second Obtain = %+v, %v; want still valid, serial %s", r2, err, r.Serial)
	}
}

// Obtain asked again for a certificate the store has, naming no account
// (Lineage.Account ""), keeps the account its lineage records: the next
// renewal is not moved to an account the store does not have.
func TestObtainAgainKeepsTheRecordedAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	l := e.lineage("acct.example.test")
	l.Account = "admin@example.test"
	r, err := e.engine(nil).Obtain(ctx, engine.Request{Lineage: l, Account: agree})
	if err != nil || r.Outcome != engine.Obtained {
		t.Fatalf("Obtain = %+v, %v", r, err)
	}
	again := e.lineage("acct.example.test")
	again.KeyType = "ec384" // a setting given anew is recorded
	eng := e.engine(nil)
	if r, err := eng.Obtain(ctx, engine.Request{Lineage: again, Account: agree}); err != nil || r.Outcome != engine.StillValid {
		t.Fatalf("second Obtain = %+v, %v; want still valid", r, err)
	}
	rec, err := eng.Certs().LoadLineage(ctx, e.pebble.DirectoryURL, "acct.example.test")
	if err != nil || rec.Account != "admin@example.test" || rec.KeyType != "ec384" {
		t.Fatalf("lineage = %+v, %v; want account admin@example.test kept, key type ec384 recorded", rec, err)
	}
	// A new certificate without an account is the default account's.
	if _, err := eng.Obtain(ctx, engine.Request{Lineage: e.lineage("other.example.test"), Account: agree}); err != nil {
		t.Fatal(err)
	}
	if rec, err := eng.Certs().LoadLineage(ctx, e.pebble.DirectoryURL, "other.example.test"); err != nil || rec.Account != "default" {
		t.Fatalf("lineage of a new certificate = %+v, %v; want account default", rec, err)
	}
}
