// Package tlsalpn01 solves tls-alpn-01 challenges (RFC 8737): the CA
// opens a TLS connection to port 443 offering only the "acme-tls/1" ALPN
// protocol, with the domain (or for an IP address its reverse name,
// RFC 8738) as SNI, and expects a self-signed certificate carrying the
// key authorization's digest.
//
//   - Responder holds validation certificates in memory; its WrapConfig
//     lets a Go server already on :443 answer the challenge on the same
//     listener, serving its normal certificates to everyone else.
//   - Standalone runs its own TLS listener for the time the challenges
//     are presented.
//   - Files writes the certificate and key for an external TLS server
//     (nginx, HAProxy) and asks it to reload.
//   - solver.Callback hands the work to two functions of your own.
package tlsalpn01
