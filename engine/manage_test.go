package engine_test

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/solver/solverset"
	"github.com/certkeeper/certkeeper/store"
)

// Nothing listens on these: Manage must not need them.
const (
	manageCAA = "https://127.0.0.1:1/a/dir"
	manageCAB = "https://127.0.0.1:1/b/dir"
)

func webrootLineage(t *testing.T, ca, name string, ids ...string) store.Lineage {
	t.Helper()
	l := store.Lineage{Name: name, CA: ca, Identifiers: ids}
	if err := engine.SetSolvers(&l, solverset.Config{HTTP01: &solverset.HTTP01{Webroot: t.TempDir()}}); err != nil {
		t.Fatal(err)
	}
	return l
}

func managedNames(ls []store.Lineage) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Name)
	}
	slices.Sort(out)
	return out
}

func TestManageRecordsGivenAndManagesStored(t *testing.T) {
	ctx := ctxT(t)
	st := store.NewMemory()
	certs := &store.Certs{Store: st}
	// Obtained earlier: one with solvers, one without (an older
	// version's), one with the name of a given one at another CA.
	for _, l := range []store.Lineage{
		webrootLineage(t, manageCAA, "cli.example.test", "cli.example.test"),
		{Name: "bare.example.test", CA: manageCAA, Identifiers: []string{"bare.example.test"}},
		webrootLineage(t, manageCAB, "file.example.test", "file.example.test"),
		webrootLineage(t, manageCAA, "file.example.test", "old.example.test"),
	} {
		if err := certs.SaveLineage(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := engine.New(engine.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	given := webrootLineage(t, manageCAA, "", "file.example.test", "www.file.example.test")
	m, err := eng.Manage(ctx, []store.Lineage{given}, engine.ManageOptions{Account: agree, Stored: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := managedNames(m.Given); !slices.Equal(got, []string{"file.example.test"}) {
		t.Errorf("Given %v", got)
	}
	if got := managedNames(m.Stored); !slices.Equal(got, []string{"cli.example.test"}) {
		t.Errorf("Stored %v", got)
	}
	var taken, noSolver bool
	for _, r := range m.Skipped {
		switch {
		case r.Name == "file.example.test" && r.CA == manageCAB && errors.Is(r.Err, engine.ErrNameTaken):
			taken = true
		case r.Name == "bare.example.test" && errors.Is(r.Err, engine.ErrNoSolver):
			noSolver = true
		default:
			t.Errorf("skipped %+v", r)
		}
	}
	if !taken || !noSolver {
		t.Errorf("Skipped %+v: want file.example.test at B (name taken) and bare.example.test (no solver)", m.Skipped)
	}
	// The given lineage replaced the record of its CA and name, names
	// and all.
	l, err := certs.LoadLineage(ctx, manageCAA, "file.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if !store.SameIdentifiers(l.Identifiers, given.Identifiers) || l.Account != "default" {
		t.Errorf("recorded %+v", l)
	}
	var served []string
	for _, s := range eng.Manager().Status() {
		served = append(served, s.Name)
	}
	if want := []string{"cli.example.test", "file.example.test"}; !slices.Equal(served, want) {
		t.Errorf("manager holds %v, want %v", served, want)
	}

	// Solvers for those that record none; a lineage gone from the store
	// is no longer managed.
	if err := certs.DeleteLineage(ctx, manageCAA, "cli.example.test"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m, err = eng.Manage(ctx, []store.Lineage{given}, engine.ManageOptions{Account: agree, Stored: true, DefaultSolvers: func(l *store.Lineage) {
		_ = engine.SetSolvers(l, solverset.Config{HTTP01: &solverset.HTTP01{Webroot: dir}})
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := managedNames(m.Stored); !slices.Equal(got, []string{"bare.example.test"}) {
		t.Errorf("Stored %v", got)
	}
	if !slices.Equal(m.Unmanaged, []string{"cli.example.test"}) {
		t.Errorf("Unmanaged %v", m.Unmanaged)
	}
	if _, ok := eng.Manager().StatusOf("cli.example.test"); ok {
		t.Errorf("cli.example.test still managed")
	}
	// DefaultSolvers is not recorded.
	if l, err := certs.LoadLineage(ctx, manageCAA, "bare.example.test"); err != nil || len(l.Solvers) != 0 {
		t.Errorf("bare.example.test recorded as %+v (%v)", l, err)
	}
}

func TestManageRefusesUnusableLineages(t *testing.T) {
	ctx := ctxT(t)
	st := store.NewMemory()
	eng, err := engine.New(engine.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ok := webrootLineage(t, manageCAA, "ok.example.test", "ok.example.test")
	twice := webrootLineage(t, manageCAA, "ok.example.test", "other.example.test")
	none := store.Lineage{Name: "none.example.test", CA: manageCAA, Identifiers: []string{"none.example.test"}}
	bad := webrootLineage(t, manageCAA, "bad.example.test", "bad.example.test")
	bad.KeyType = "rsa1024"
	_, err = eng.Manage(ctx, []store.Lineage{ok, twice, none, bad}, engine.ManageOptions{Account: agree})
	var le *engine.LocalError
	if !errors.As(err, &le) || !errors.Is(err, engine.ErrNoSolver) {
		t.Fatalf("Manage: %v; want LocalErrors, ErrNoSolver among them", err)
	}
	for _, want := range []string{"given twice", "rsa1024"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Manage: %v; want %q", err, want)
		}
	}
	certs := &store.Certs{Store: st}
	if _, err := certs.LoadLineage(ctx, manageCAA, "ok.example.test"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a lineage was recorded although Manage failed: %v", err)
	}
	if n := len(eng.Manager().Status()); n != 0 {
		t.Errorf("%d certificates managed after a failed Manage", n)
	}
}
