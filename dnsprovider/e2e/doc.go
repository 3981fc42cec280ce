// Package e2e holds end-to-end tests of the DNS challenge solvers: Pebble
// (the Let's Encrypt test CA) validating dns-01, dns-account-01 and
// dns-persist-01 by asking a real BIND, whose records are written with
// RFC 2136 dynamic updates. It has no code of its own.
package e2e
