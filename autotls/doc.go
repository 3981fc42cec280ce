// Package autotls makes a Go server serve HTTPS with certificates that a
// manager.Manager obtains and renews through ACME, in a few lines:
//
//	cfg := &autotls.Config{
//		Manager: m,                        // a *manager.Manager over a store
//		Names:   []string{"example.com", "www.example.com"},
//		Issuer:  &issue.Issuer{Client: client, Account: account},
//	}
//	err := autotls.ListenAndServe(ctx, cfg, handler) // :443 and :80
//
// It is the Go counterpart of an "auto-TLS endpoint": one TLS listener
// that picks the certificate by the server name the client sends (SNI),
// answers the CA's tls-alpn-01 validations itself (RFC 8737), and a plain
// HTTP handler for port 80 that answers http-01 validations and redirects
// everything else to HTTPS. No other process, port or file is needed.
//
// The pieces can be used apart: Config.TLSConfig for an http.Server or any
// TLS server of your own, Config.Listener to wrap a net.Listener, and
// Config.HTTPHandler for port 80.
//
// # Handshakes
//
// A handshake for a name the Manager holds a certificate for is answered
// from memory (Manager.Lookup: the exact name, else a wildcard one label
// up), without a lock, a disk read or an allocation. A handshake without
// SNI gets Config.DefaultServerName's certificate. A handshake for one of
// Config.Names not issued yet waits for it. Every wait is bounded by the
// handshake's own context (hello.Context()) and OnDemandPolicy's
// HandshakeWait.
//
// # On-demand issuance
//
// With Config.OnDemand set, a name that nobody configured gets a
// certificate at its first handshake, if the policy allows it: an
// allowlist of names and "*.example.com" patterns, or a decision function.
// Because anyone can send any SNI, the policy also bounds the cost: a cap
// on the number of on-demand certificates, a global rate limit and one per
// registrable domain (public suffix list), and a negative cache that
// refuses a name whose issuance failed for a while. Concurrent handshakes
// for the same new name start one order; a refused name starts none.
package autotls
