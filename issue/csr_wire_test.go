package issue

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/keys"
)

type nopSolver struct{}

func (nopSolver) Present(context.Context, acme.Challenge) error { return nil }
func (nopSolver) CleanUp(context.Context, acme.Challenge) error { return nil }

// The key is made while the CA validates, but a key type that cannot be
// made is refused before anything is sent: no order is placed that
// could not be finalized.
func TestUnknownKeyTypeRefusedBeforeOrder(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
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
	_, err = is.Obtain(context.Background(), Request{Identifiers: ids, KeyType: "dsa1024"})
	if err == nil || !strings.Contains(err.Error(), `unknown key type "dsa1024"`) {
		t.Fatalf("Obtain with key type dsa1024: %v, want an unknown key type error", err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests sent for a key type that cannot be made", n)
	}
}
