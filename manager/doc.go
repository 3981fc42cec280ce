// Package manager keeps a set of certificates issued and renewed: it is the
// issuing service that sits between the order flow (package issue) and the
// programs that serve the certificates (package autotls, the daemon).
//
// A Manager loads what the store already holds into memory without any
// network call, so Lookup can answer TLS handshakes at once, then Run obtains
// what is missing and renews each certificate on its own schedule:
//
//   - when the CA offers renewal information (ARI, RFC 9773), at a random
//     moment inside the window the CA suggests, fetched again when the CA's
//     Retry-After says so, and the renewal order names the certificate it
//     replaces;
//   - otherwise when a fraction of the lifetime is left (a third, or half for
//     certificates of ten days or less), or when less than ReissueBefore is
//     left if that is set, spread by Jitter so that a fleet does not renew in
//     lockstep;
//   - whatever the CA's window says, never later than PanicBefore (or room
//     for a few retries) before expiry, and never later than ReissueBefore
//     or RenewFraction when the user set them;
//   - after a failure, on a backoff table, never sooner than the CA's
//     Retry-After, and shortened to land before expiry while the
//     certificate is valid; the failure count and the next attempt are
//     kept in the store so that a restart does not hammer the CA. A renewal
//     order naming the certificate it replaces that the CA refuses is
//     placed again at once without naming it.
//
// Each certificate has its own timer (a heap of next-check times), examined
// at least every CheckInterval. One order at a time runs per certificate:
// callers of Renew, the timer and handshakes share it. Across processes that
// share a store, the store's lock for the certificate is held around the
// order and the save, and the store is read again once the lock is held.
//
// Nothing fails silently: every event goes to the logger, to
// Config.OnEvent, to Metrics and to the hooks subscribed to it. A renewal
// that fails with less than PanicBefore left raises EventPanic and calls
// Config.OnPanic, again at every check while it keeps failing.
//
// The renewal rules are pure functions of the certificate's validity, the
// current time, the CA's window and a random number, covered by table tests;
// the clock is injected (see package managertest for a fake one).
package manager
