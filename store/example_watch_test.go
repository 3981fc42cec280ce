package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/certkeeper/certkeeper/store"
)

// A daemon holds its store's lock for its life, and stops when the lock
// is lost: a second daemon is refused, and the first one's work runs
// under the watched context, canceled with ErrLockLost as its cause if
// another process takes the lock (its lock file removed meanwhile).
func ExampleDir_TryLockWatched() {
	root, err := os.MkdirTemp("", "store")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	first, _ := store.NewDir(root)
	watched, unlock, err := first.TryLockWatched(context.Background(), "daemon")
	if err != nil {
		panic(err)
	}

	second, _ := store.NewDir(root) // as another process would
	_, _, err = second.TryLockWatched(context.Background(), "daemon")
	fmt.Println("second daemon refused:", errors.Is(err, store.ErrLockBusy))

	// The daemon's work would run under watched until it is done.
	if err := unlock(); err != nil {
		panic(err)
	}
	<-watched.Done()
	fmt.Println("lost:", errors.Is(context.Cause(watched), store.ErrLockLost))
	// Output:
	// second daemon refused: true
	// lost: false
}
