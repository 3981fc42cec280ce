// Package e2e holds certkeeper's end-to-end tests: the real order flow
// against Pebble, the Let's Encrypt test CA, started by package acmetest,
// over real challenges on loopback. It has no non-test code.
package e2e
