package engine_test

import (
	"context"
	"slices"
	"testing"

	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
)

// In the shared layout, which keeps one file per name and no CA, a
// "<name>.pem" whose name has a lineage record is that record's
// certificate, of the record's CA, whatever CA is given as the default or
// as the filter; only files without a record get one at the default CA.
func TestLineagesSharedLayout(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	eng, err := engine.New(engine.Config{Store: mem, Layout: store.LayoutShared})
	if err != nil {
		t.Fatal(err)
	}
	const caX, caY = "https://x.example.test/dir", "https://y.example.test/dir"
	rec := store.Lineage{Name: "rec.example.test", CA: caX, Identifiers: []string{"rec.example.test"}, Account: "default"}
	if err := eng.Certs().SaveLineage(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"rec.example.test", "wanted.example.test", "bad.example.test"} {
		if err := mem.Put(ctx, n+".pem", nil); err != nil {
			t.Fatal(err)
		}
	}
	// A record that cannot be read: its file is not another CA's.
	if err := mem.Put(ctx, "certkeeper/lineage/bad.example.test.json", []byte("{")); err != nil {
		t.Fatal(err)
	}
	names := func(ls []store.Lineage) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Name+"@"+l.CA)
		}
		return out
	}
	for _, tc := range []struct {
		ca   string
		want []string
	}{
		{"", []string{"rec.example.test@" + caX, "wanted.example.test@" + caY}},
		{caY, []string{"wanted.example.test@" + caY}},
		{caX, []string{"rec.example.test@" + caX}},
	} {
		ls, err := eng.Lineages(ctx, tc.ca, caY)
		if got := names(ls); !slices.Equal(got, tc.want) {
			t.Errorf("Lineages(%q, %q) = %v, want %v", tc.ca, caY, got, tc.want)
		}
		if err == nil {
			t.Errorf("Lineages(%q, %q): no error for the record that cannot be read", tc.ca, caY)
		}
		for _, l := range ls {
			if l.Name == "wanted.example.test" && (l.Account != "default" || !slices.Equal(l.Identifiers, []string{"wanted.example.test"})) {
				t.Errorf("lineage made for the placeholder: %+v", l)
			}
		}
	}
}

// The shared layout holds one account, client.key: an Obtain that names
// another account ID (an email) uses it, and records "default".
func TestObtainSharedOneAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	d, err := store.NewDir(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Store: d, Layout: store.LayoutShared, Manager: manager.Config{RescueDir: e.rescue}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	l := e.lineage("one.example.test")
	l.Account = "x@example.test"
	opts := engine.AccountOptions{ID: "x@example.test", Contact: []string{"mailto:x@example.test"}, AgreeTOS: true}
	r, err := eng.Obtain(ctx, engine.Request{Lineage: l, Account: opts})
	if err != nil || r.Outcome != engine.Obtained {
		t.Fatalf("Obtain = %+v, %v", r, err)
	}
	rec, err := eng.Certs().LoadLineage(ctx, e.pebble.DirectoryURL, "one.example.test")
	if err != nil || rec.Account != "default" {
		t.Errorf("lineage = %+v, %v; want account \"default\"", rec, err)
	}
	acct, err := eng.VerifyAccount(ctx, e.pebble.DirectoryURL, e.root, engine.AccountOptions{ID: "y@example.test", Contact: []string{"mailto:y@example.test"}})
	if err != nil || !slices.Equal(acct.Contact, []string{"mailto:y@example.test"}) {
		t.Errorf("VerifyAccount with another ID = %+v, %v; want the one account, its contact updated", acct, err)
	}
	if accts, err := eng.Certs().ListAccounts(ctx, ""); err != nil || len(accts) != 1 {
		t.Errorf("accounts: %+v, %v", accts, err)
	}
}
