package issue

import (
	"context"
	"errors"
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
	is, ids := refusingIssuer(t, &requests)
	_, err := is.Obtain(context.Background(), Request{Identifiers: ids, KeyType: "dsa1024"})
	if err == nil || !strings.Contains(err.Error(), `unknown key type "dsa1024"`) {
		t.Fatalf("Obtain with key type dsa1024: %v, want an unknown key type error", err)
	}
	// The one error of keys for it, which a program can name its flag by.
	if ute := (*keys.UnknownTypeError)(nil); !errors.As(err, &ute) || ute.Name != "dsa1024" {
		t.Errorf("Obtain with key type dsa1024: %v is no *keys.UnknownTypeError of dsa1024", err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests sent for a key type that cannot be made", n)
	}
}

// refusingIssuer is an Issuer for a.example.test at a CA that answers
// every request with a 500, counting them in requests if it is not nil.
func refusingIssuer(t *testing.T, requests *atomic.Int32) (*Issuer, []acme.Identifier) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests != nil {
			requests.Add(1)
		}
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
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
	return is, ids
}
