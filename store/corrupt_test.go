package store

import (
	"bytes"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/keys"
)

// TestCorruptAccountRecord loads an account whose account.json is cut
// short but whose key is intact: the key comes back with no URL (so that
// the account is looked up by its key at the CA) and RecordErr says why.
// A key that does not parse either is still an error.
func TestCorruptAccountRecord(t *testing.T) {
	c := &Certs{Store: NewMemory()}
	ctx := t.Context()
	const ca = "https://ca.test/dir"
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := keys.MarshalPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SaveAccount(ctx, ca, "", AccountRecord{URL: "https://ca.test/acct/1", KeyPEM: keyPEM, Contact: []string{"mailto:a@example.test"}}); err != nil {
		t.Fatal(err)
	}
	const dir = "accounts/ca.test_dir/default"
	good, err := c.Store.Get(ctx, dir+"/account.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Store.Put(ctx, dir+"/account.json", good[:len(good)/2]); err != nil {
		t.Fatal(err)
	}
	rec, err := c.LoadAccount(ctx, ca, "")
	if err != nil {
		t.Fatalf("LoadAccount with a truncated account.json: %v", err)
	}
	if !bytes.Equal(rec.KeyPEM, keyPEM) || rec.URL != "" || rec.CA != ca || rec.ID != "default" || rec.Contact != nil {
		t.Errorf("LoadAccount = %+v; want the key, no URL", rec)
	}
	if !errors.Is(rec.RecordErr, ErrCorrupt) || !strings.Contains(rec.RecordErr.Error(), "account.json") {
		t.Errorf("RecordErr = %v; want ErrCorrupt naming account.json", rec.RecordErr)
	}
	list, err := c.ListAccounts(ctx, ca)
	if err != nil || len(list) != 1 || list[0].URL != "" || list[0].RecordErr == nil {
		t.Errorf("ListAccounts = %+v, %v", list, err)
	}
	// Saving the account again (as the engine does once it found the
	// URL) repairs it.
	if err := c.SaveAccount(ctx, ca, "", AccountRecord{URL: "https://ca.test/acct/1", KeyPEM: keyPEM}); err != nil {
		t.Fatal(err)
	}
	if rec, err := c.LoadAccount(ctx, ca, ""); err != nil || rec.URL != "https://ca.test/acct/1" || rec.RecordErr != nil {
		t.Errorf("after SaveAccount: %+v, %v", rec, err)
	}
	// Both files damaged: nothing to go on.
	if err := c.Store.Put(ctx, dir+"/account.key", []byte("-----BEGIN")); err != nil {
		t.Fatal(err)
	}
	if err := c.Store.Put(ctx, dir+"/account.json", []byte("{")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadAccount(ctx, ca, ""); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadAccount with both files damaged: %v", err)
	}
}

// TestCorruptLineage reads a lineage.json cut short, and one that parses
// but is not a valid record: LoadLineage's error wraps ErrCorrupt (the
// record may be replaced); ListLineages joins it and lists the others. A
// record from a newer program is not corrupt.
func TestCorruptLineage(t *testing.T) {
	for _, layout := range []Layout{LayoutStandard, LayoutShared} {
		t.Run(layout.String(), func(t *testing.T) {
			c := &Certs{Store: NewMemory(), Layout: layout}
			ctx := t.Context()
			const ca = "https://ca.test/dir"
			for _, n := range []string{"a.test", "b.test"} {
				if err := c.SaveLineage(ctx, Lineage{Name: n, CA: ca, Identifiers: []string{n}}); err != nil {
					t.Fatal(err)
				}
			}
			k, err := c.lineageKey(ca, "a.test")
			if err != nil {
				t.Fatal(err)
			}
			good, err := c.Store.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range [][]byte{good[:len(good)/2], []byte(`{"version":1,"name":"a.test"}`)} {
				if err := c.Store.Put(ctx, k, bad); err != nil {
					t.Fatal(err)
				}
				if _, err := c.LoadLineage(ctx, ca, "a.test"); !errors.Is(err, ErrCorrupt) {
					t.Errorf("LoadLineage of %q: %v; want ErrCorrupt", bad, err)
				}
				ls, err := c.ListLineages(ctx, ca)
				if !errors.Is(err, ErrCorrupt) || len(ls) != 1 || ls[0].Name != "b.test" {
					t.Errorf("ListLineages = %+v, %v", ls, err)
				}
			}
			if err := c.Store.Put(ctx, k, []byte(`{"version":99,"name":"a.test"}`)); err != nil {
				t.Fatal(err)
			}
			if _, err := c.LoadLineage(ctx, ca, "a.test"); err == nil || errors.Is(err, ErrCorrupt) {
				t.Errorf("LoadLineage of a newer format: %v; want an error, not ErrCorrupt", err)
			}
		})
	}
}
