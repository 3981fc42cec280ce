package storetest_test

import (
	"testing"

	"github.com/certkeeper/certkeeper/store"
	"github.com/certkeeper/certkeeper/store/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, store.NewMemory())
}

func TestDir(t *testing.T) {
	d, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, d)
}
