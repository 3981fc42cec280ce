package acmetest_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/certkeeper/certkeeper/acmetest"
)

// ExamplePebblePatch_Apply shows the substitution BuildPatchedPebble makes
// in Pebble's source: the text replaced must stand in the file exactly
// once, or the build fails with ErrPatchMismatch.
func ExamplePebblePatch_Apply() {
	p := acmetest.PebblePatch{
		File: "db/memorystore.go",
		Old:  "\tdefer m.RUnlock()\n",
		New:  "\tm.RUnlock()\n",
	}
	got, err := p.Apply("\tm.RLock()\n\tdefer m.RUnlock()\n")
	fmt.Printf("%q %v\n", got, err)
	_, err = p.Apply("\tm.RLock()\n")
	fmt.Println(errors.Is(err, acmetest.ErrPatchMismatch))
	// Output:
	// "\tm.RLock()\n\tm.RUnlock()\n" <nil>
	// true
}

// ExampleBuildPatchedPebble builds, once per machine, a Pebble whose
// -version flag says it is patched, next to BuildPebble's stock binary.
func ExampleBuildPatchedPebble() {
	bin, err := acmetest.BuildPatchedPebble(context.Background(), acmetest.PebbleCacheDir(), "marked",
		acmetest.PebblePatch{
			File: "cmd/pebble/main.go",
			Old:  `"Print the software version")`,
			New:  `"Print the software version (patched)")`,
		})
	if err != nil {
		log.Fatal(err)
	}
	pebble, err := acmetest.StartPebble(context.Background(), acmetest.PebbleOptions{Binary: bin})
	if err != nil {
		log.Fatal(err)
	}
	defer pebble.Close()
}
