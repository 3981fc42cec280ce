package issue

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/keys"
)

// The key made in the background while the order is placed is not left
// running when Obtain returns: a failed order does not leave a goroutine
// behind that goes on generating an RSA key (seconds of CPU) and reading
// the caller's Request after Obtain has returned.
func TestFailedOrderLeavesNoKeyGeneration(t *testing.T) {
	is, ids := refusingIssuer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the order fails at once
	if _, err := is.Obtain(ctx, Request{Identifiers: ids, KeyType: keys.RSA4096}); err == nil {
		t.Fatal("Obtain with a canceled context succeeded")
	}
	// The caller may reuse its identifiers once Obtain has returned.
	ids[0].Value = "b.example.test"
	buf := make([]byte, 1<<20)
	// prepareCSR, not startCSR: the goroutine that made the key may
	// still be on its way out after closing made, which end waits for;
	// what must be over is the making of the key and the reading of req.
	if st := string(buf[:runtime.Stack(buf, true)]); strings.Contains(st, "issue.prepareCSR") {
		t.Errorf("a goroutine making the key is still running after Obtain returned:\n%s", st)
	}
}
