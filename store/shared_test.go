package store

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/keys"
)

// SaveAccount in the shared layout leaves a client.key that holds the
// key already (another program's file, in its own encoding) as it is,
// and replaces one that holds another key.
func TestSharedSaveAccountKeepsSameKey(t *testing.T) {
	d := newTestDir(t)
	c := &Certs{Store: d, Layout: LayoutShared}
	ctx := context.Background()
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	theirs := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	p := filepath.Join(d.Root(), "client.key")
	if err := os.WriteFile(p, theirs, 0o640); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	ours, err := keys.MarshalPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ours, theirs) {
		t.Fatal("test needs two encodings")
	}
	if err := c.SaveAccount(ctx, "https://ca.example.test/dir", "", AccountRecord{URL: "https://ca.example.test/acct/1", KeyPEM: ours}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, theirs) || !fi.ModTime().Equal(old) || fi.Mode().Perm() != 0o640 {
		t.Errorf("client.key holding the same key was rewritten: mode %v, modified %v:\n%s", fi.Mode(), fi.ModTime(), got)
	}
	rec, err := c.LoadAccount(ctx, "https://ca.example.test/dir", "default")
	if err != nil || !bytes.Equal(rec.KeyPEM, theirs) {
		t.Errorf("LoadAccount = %+v, %v", rec, err)
	}

	other, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, _ := keys.MarshalPEM(other)
	if err := c.SaveAccount(ctx, "https://ca.example.test/dir", "", AccountRecord{KeyPEM: otherPEM}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, otherPEM) {
		t.Errorf("client.key not replaced by another key:\n%s", got)
	}
	if err := c.SaveAccount(ctx, "https://ca.example.test/dir", "x@example.test", AccountRecord{KeyPEM: otherPEM}); err == nil {
		t.Errorf("SaveAccount of account ID x@example.test in the shared layout: no error")
	}
}

func TestDetectLayout(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		keys []string
		want Layout
	}{
		{"empty", nil, LayoutStandard},
		{"standard", []string{"certificates/ca/www.example.com/current", "accounts/ca/default/account.key"}, LayoutStandard},
		{"client.key", []string{"client.key"}, LayoutShared},
		{"placeholders only", []string{"www.example.com.pem"}, LayoutStandard},
		{"a lineage record, no account yet", []string{"www.example.com.pem", "certkeeper/lineage/www.example.com.json"}, LayoutShared},
		{"a renewal state", []string{"certkeeper/manager/www.example.com.json"}, LayoutShared},
		{"a version", []string{"certkeeper/versions/www.example.com/1.pem"}, LayoutShared},
	} {
		m := NewMemory()
		for _, k := range tc.keys {
			if err := m.Put(ctx, k, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := DetectLayout(ctx, m); err != nil || got != tc.want {
			t.Errorf("%s: DetectLayout = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

// A layout named for a store that already holds the other layout's
// records is refused: the certificates of one would be hidden from every
// later command, which reads the store in the layout it detects.
func TestCheckLayout(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		keys     []string
		standard bool // CheckLayout(LayoutStandard) passes
		shared   bool
	}{
		{"empty", nil, true, true},
		{"standard", []string{"certificates/ca/www.example.com/current", "accounts/ca/default/account.key"}, true, false},
		{"standard, certificates only", []string{"certificates/ca/www.example.com/current"}, true, false},
		{"standard, an account only", []string{"accounts/ca/default/account.key"}, true, false},
		{"client.key", []string{"client.key", "www.example.com.pem"}, false, true},
		{"placeholders only", []string{"www.example.com.pem"}, true, true},
		{"shared records", []string{"certkeeper/lineage/www.example.com.json"}, false, true},
	} {
		m := NewMemory()
		for _, k := range tc.keys {
			if err := m.Put(ctx, k, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			l  Layout
			ok bool
		}{{LayoutStandard, tc.standard}, {LayoutShared, tc.shared}} {
			err := CheckLayout(ctx, m, c.l)
			if c.ok && err != nil || !c.ok && !errors.Is(err, ErrOtherLayout) {
				t.Errorf("%s: CheckLayout(%v) = %v; want ok=%v (ErrOtherLayout)", tc.name, c.l, err, c.ok)
			}
		}
	}
}
