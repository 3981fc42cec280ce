package challenge

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps challenge what its documentation says it is: the
// RFC's names and values and the Solver contract, on the standard library
// and acme alone. A self-check, a DNS client or a server belongs with its
// solver under solver/.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		std := !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".")
		if !std && imp != "github.com/certkeeper/certkeeper/acme" {
			t.Errorf("challenge imports %s; it may import only the standard library and acme", imp)
		}
	}
}
