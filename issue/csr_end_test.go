package issue

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/keys"
)

// The key made in the background while the order is placed is not left
// running when Obtain returns: a failed order does not leave a goroutine
// behind that goes on generating an RSA key (seconds of CPU) and reading
// the caller's Request after Obtain has returned.
func TestFailedOrderLeavesNoKeyGeneration(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	is := &Issuer{
		Client:  &acme.Client{DirectoryURL: srv.URL + "/dir", HTTPClient: srv.Client()},
		Account: acme.Account{URL: srv.URL + "/acct/1", Key: key},
		Solvers: map[acme.ChallengeType]challenge.Solver{acme.ChallengeHTTP01: nopSolver{}},
	}
	ids, err := ParseIdentifiers("a.example.test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the order fails at once
	if _, err := is.Obtain(ctx, Request{Identifiers: ids, KeyType: keys.RSA4096}); err == nil {
		t.Fatal("Obtain with a canceled context succeeded")
	}
	// The caller may reuse its identifiers once Obtain has returned.
	ids[0].Value = "b.example.test"
	buf := make([]byte, 1<<20)
	if st := string(buf[:runtime.Stack(buf, true)]); strings.Contains(st, "issue.startCSR") {
		t.Errorf("a goroutine making the key is still running after Obtain returned:\n%s", st)
	}
}
