//go:build unix

package manager_test

// Issue 11, point 7, account registration: kill -9 at every write
// boundary of registering an account (engine.Account, against Pebble),
// then a restart: the account key is never lost, a key stored without its
// account URL is completed with the account the CA registered for it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/engine"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// TestKillAccountChild is the child process of
// TestKillAccountRegistration; it does nothing unless
// CERTKEEPER_KILL_ACCOUNT_ROOT is set.
func TestKillAccountChild(t *testing.T) {
	root := os.Getenv("CERTKEEPER_KILL_ACCOUNT_ROOT")
	if root == "" {
		t.Skip("the child of TestKillAccountRegistration")
	}
	at, _ := strconv.Atoi(os.Getenv("CERTKEEPER_KILL_AT"))
	d, err := store.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	d.StaleLockAfter = killStaleLock
	ks := &killStore{Dir: d, at: at, mid: os.Getenv("CERTKEEPER_KILL_MID") != ""}
	e, err := engine.New(engine.Config{Store: ks})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := e.Account(ctx, os.Getenv("CERTKEEPER_KILL_CA"), os.Getenv("CERTKEEPER_KILL_CA_ROOT"), engine.AccountOptions{AgreeTOS: true}); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "WRITES %d\n", ks.n)
}

func TestKillAccountRegistration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration tier (runs Pebble and a child process of this test binary per write): skipped under -short")
	}
	p := acmetest.NewTestPebble(t, acmetest.PebbleOptions{})
	caRoot := filepath.Join(t.TempDir(), "pebble-root.pem")
	if err := os.WriteFile(caRoot, p.TLSRootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	client := &acme.Client{DirectoryURL: p.DirectoryURL, HTTPClient: p.HTTPClient()}
	ctx := ctxT(t)
	run := func(root string, at int, mid bool) (string, bool) {
		t.Helper()
		env := []string{"CERTKEEPER_KILL_ACCOUNT_ROOT=" + root, "CERTKEEPER_KILL_CA=" + p.DirectoryURL, "CERTKEEPER_KILL_CA_ROOT=" + caRoot}
		return runChildTest(t, "TestKillAccountChild", env, "", at, 0, 0, mid)
	}
	load := func(root string) (store.AccountRecord, error) {
		d, err := store.OpenDir(root)
		if err != nil {
			return store.AccountRecord{}, err
		}
		return (&store.Certs{Store: d}).LoadAccount(ctx, p.DirectoryURL, "")
	}

	probe := t.TempDir()
	out, _ := run(probe, 0, false)
	writes := writesOf(out)
	if rec, err := load(probe); err != nil || rec.URL == "" || len(writes) == 0 {
		t.Fatalf("registration without a kill: %+v, %v\n%s", rec, err, out)
	}
	t.Logf("registration: %d writes: %q", len(writes), writes)

	var found []string
	for k := 1; k <= len(writes); k++ {
		for _, mid := range []bool{false, true} {
			boundary := "before write " + writes[k-1]
			if mid {
				boundary = "in the middle of write " + writes[k-1]
			}
			root := t.TempDir()
			out, killed := run(root, k, mid)
			if !killed {
				t.Errorf("not killed %s\n%s", boundary, out)
				continue
			}
			var keyAfterKill []byte
			switch rec, err := load(root); {
			case errors.Is(err, fs.ErrNotExist):
			case err != nil:
				found = append(found, fmt.Sprintf("killed %s, after the kill: LoadAccount: %v", boundary, err))
			default:
				keyAfterKill = rec.KeyPEM
			}
			run(root, 0, false)
			rec, err := load(root)
			if err != nil {
				found = append(found, fmt.Sprintf("killed %s, after the restart: LoadAccount: %v", boundary, err))
				continue
			}
			if rec.URL == "" {
				found = append(found, fmt.Sprintf("killed %s, after the restart: account key without its URL", boundary))
			}
			if keyAfterKill != nil && !bytes.Equal(keyAfterKill, rec.KeyPEM) {
				found = append(found, fmt.Sprintf("killed %s, after the restart: the account key stored before the kill was replaced", boundary))
			}
			// The URL stored is the CA's account for the key stored.
			key, err := keys.ParsePEM(rec.KeyPEM)
			if err == nil {
				var acct acme.Account
				acct, err = client.LookupAccount(ctx, key)
				if err == nil && acct.URL != rec.URL {
					err = fmt.Errorf("the CA knows the key as %s, the store says %s", acct.URL, rec.URL)
				}
			}
			if err != nil {
				found = append(found, fmt.Sprintf("killed %s, after the restart: %v", boundary, err))
			}
			filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
				if err == nil && strings.HasPrefix(de.Name(), ".tmp-") {
					rel, _ := filepath.Rel(root, p)
					found = append(found, fmt.Sprintf("killed %s, after the restart: leftover temporary file %s", boundary, rel))
				}
				return nil
			})
		}
	}
	for _, f := range found {
		t.Error(f)
	}
}
