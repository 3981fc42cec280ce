package tlsalpn01_test

import (
	"crypto/tls"
	"fmt"

	"github.com/certkeeper/certkeeper/solver/tlsalpn01"
)

// A server already on :443 solves tls-alpn-01 by wrapping its config;
// the same Responder is given to the order flow as the tls-alpn-01 solver.
func ExampleResponder_WrapConfig() {
	var m tlsalpn01.Responder
	cfg := m.WrapConfig(&tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	fmt.Println(cfg.NextProtos)
	// srv := &http.Server{Addr: ":443", TLSConfig: cfg}
	// srv.ListenAndServeTLS("", "")
	// Output: [h2 http/1.1 acme-tls/1]
}
