package autotls_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/autotls"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/store"
)

// A whole HTTPS server: certificates for two names from Let's Encrypt's
// staging CA, kept in a directory, renewed in the background, validated
// through the server's own ports 443 and 80.
func ExampleListenAndServe() {
	ctx := context.Background()
	dir, err := store.NewDir("/var/lib/myapp/certs")
	if err != nil {
		log.Fatal(err)
	}
	m, err := manager.New(manager.Config{Store: dir})
	if err != nil {
		log.Fatal(err)
	}
	client := &acme.Client{DirectoryURL: "https://acme-staging-v02.api.letsencrypt.org/directory"}
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		log.Fatal(err)
	}
	// A real program stores the account (see store.Certs.SaveAccount).
	account, err := client.NewAccount(ctx, acme.Account{Key: key, TermsOfServiceAgreed: true})
	if err != nil {
		log.Fatal(err)
	}
	cfg := &autotls.Config{
		Manager: m,
		Names:   []string{"example.com", "www.example.com"},
		Issuer:  &issue.Issuer{Client: client, Account: account},
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello over HTTPS") })
	log.Fatal(autotls.ListenAndServe(ctx, cfg, http.DefaultServeMux))
}

// The port-80 handler redirects to HTTPS, but only for names the server
// has certificates for or may obtain: it is no open redirect.
func ExampleConfig_HTTPHandler() {
	m, err := manager.New(manager.Config{Store: store.NewMemory()})
	if err != nil {
		log.Fatal(err)
	}
	cfg := &autotls.Config{
		Manager:   m,
		HTTPSAddr: ":8443",
		OnDemand:  &autotls.OnDemandPolicy{Allow: []string{"*.example.com"}},
		Issuer:    &issue.Issuer{Client: &acme.Client{DirectoryURL: "https://ca.invalid/directory"}},
	}
	h := cfg.HTTPHandler(nil)
	for _, host := range []string{"shop.example.com", "evil.example.net"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://"+host+"/cart?id=7", nil))
		fmt.Println(host, w.Code, w.Header().Get("Location"))
	}
	// Output:
	// shop.example.com 301 https://shop.example.com:8443/cart?id=7
	// evil.example.net 404
}
