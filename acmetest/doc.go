// Package acmetest runs real ACME infrastructure for tests: the Pebble test
// CA as a subprocess ([StartPebble]), an in-process authoritative DNS server
// that Pebble resolves every name through ([StartDNSServer]), and a
// fault-injecting HTTPS reverse proxy placed between an ACME client and Pebble
// ([NewFaultProxy]).
//
// For tests that need no real CA, [StartCA] (or [NewTestCA]) runs an
// in-process fake ACME server on 127.0.0.1 that issues real certificates
// from an in-memory CA, and lets the test hold, fail or release
// validations, inject the faults the proxy knows into any endpoint, and set
// the clock ([CAOptions].Now); [NullSolver] is a solver that does nothing,
// for its controller-decided validations. [CAOptions] also gives it the
// ways of CAs met in the field that a client must cope with: authorization
// reuse, a processing step after finalize, Retry-After on polls, failed
// challenges left pending, dns-account-01 and dns-persist-01, and hooks
// that change what it sends ([CAOptions].Tamper) or issues
// ([CAOptions].Misissue). Together with store.NewMemory they are
// the test doubles txacme offers (FakeClient and its controller,
// NullResponder, MemoryStore), with the real acme.Client talking to the
// fake CA over loopback in place of a fake client. [NewMemoryCA] (or
// [NewTestMemoryCA]) makes the same CA with no listener, reached through
// [CA.Transport]: inside a testing/synctest bubble the whole exchange,
// Retry-After waits and polls included, then runs on the bubble's clock
// in no real time.
//
// Everything is configured through Go values: the package reads no
// environment variables and holds no package-level mutable state. The Pebble
// process is started with an explicit environment built from
// [PebbleOptions], never with the test process's environment, so a stray
// PEBBLE_* variable on a developer's machine cannot change a test's outcome.
//
// All servers bind to 127.0.0.1 on free ports and are torn down by Close. The
// NewTest* helpers register Close with testing.TB.Cleanup and fail the test
// (they never skip it) when a component cannot be started.
//
// The Pebble binary is the pinned release [PebbleVersion], which acmetest
// builds itself on first use ([FindPebble], [BuildPebble]: `go install` into
// a cache directory under os.UserCacheDir, once per machine, under a lock
// file so parallel test binaries do not race). It works from any module: the
// caller's go.mod needs no tool line, and Pebble never enters its module
// graph. To use a pebble installed otherwise, set [PebbleOptions].Binary.
// [BuildPatchedPebble] builds, the same way, a Pebble whose source is
// changed by exact text substitutions ([PebblePatch]), for a test or a
// benchmark that needs a fix Pebble has not released.
//
// Pebble's own HTTPS certificate is generated per instance by acmetest (an
// ephemeral ECDSA root and a leaf for 127.0.0.1 and localhost), so
// [Pebble.HTTPClient] trusts exactly one Pebble and nothing else. The roots
// that sign issued certificates are a different thing: Pebble creates them at
// start-up and [Pebble.Roots] returns them.
package acmetest
