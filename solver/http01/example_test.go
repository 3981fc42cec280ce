package http01_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/solver/http01"
)

// A Handler mounted in front of an existing site answers the CA and
// passes everything else on.
func ExampleHandler() {
	site := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from the site")
	})
	h := &http01.Handler{Next: site}
	// In a real server: http.ListenAndServe(":80", h), and h passed to
	// the order flow as the http-01 solver.

	chal := acme.Challenge{
		Type:             acme.ChallengeHTTP01,
		Token:            "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA",
		KeyAuthorization: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI",
		Identifier:       acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"},
	}
	ctx := context.Background()
	if err := h.Present(ctx, chal); err != nil {
		fmt.Println(err)
		return
	}
	defer h.CleanUp(ctx, chal)

	for _, path := range []string{"/.well-known/acme-challenge/" + chal.Token, "/"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		fmt.Println(rec.Code, rec.Body.String())
	}
	// Output:
	// 200 evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI
	// 200 hello from the site
}

// Before asking the CA, check a server the way the CA will: here a
// Handler on a local test server stands for port 80 of example.com.
func ExampleSelfCheck() {
	h := &http01.Handler{}
	srv := httptest.NewServer(h)
	defer srv.Close()

	chal := acme.Challenge{
		Type:             acme.ChallengeHTTP01,
		Token:            "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA",
		KeyAuthorization: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI",
		Identifier:       acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := srv.Listener.Addr().String() // "" in production: port 80 of the name
	fmt.Println(http01.SelfCheck(ctx, chal, addr) != nil)
	if err := h.Present(ctx, chal); err != nil {
		fmt.Println(err)
		return
	}
	defer h.CleanUp(ctx, chal)
	fmt.Println(http01.SelfCheck(ctx, chal, addr))
	// Output:
	// true
	// <nil>
}
