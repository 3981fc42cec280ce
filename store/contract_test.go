package store_test

import (
	"path/filepath"
	"testing"

	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/storetest"
)

// The Store contract suite lives in storetest, so that backends outside
// this module (store/etcdstore) run the same checks.

func TestMemory(t *testing.T) {
	storetest.Run(t, store.NewMemory())
}

func TestDir(t *testing.T) {
	d, err := store.NewDir(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, d)
}
