// Package http01 solves http-01 challenges (RFC 8555 §8.3), in which the
// CA fetches http://<domain>/.well-known/acme-challenge/<token> on port 80
// and expects the key authorization as the body.
//
// Pick the solver that fits the machine:
//
//   - Webroot writes the response file into the document root of a web
//     server that is already running (nginx, Apache, Caddy…).
//   - Handler is an http.Handler to mount in a Go server that already
//     listens on port 80; it also is the Solver.
//   - Standalone runs its own server on :80 for the time the challenges
//     are presented, for machines where nothing else listens there.
//   - solver.Callback hands the work to two functions of your own.
package http01
