// Package acme is the protocol layer ("plumbing") of certkeeper: a client
// for RFC 8555 (ACME) with RFC 8738 IP identifiers, RFC 9773 renewal info
// (ARI), certificate profiles and the dns-account-01 and dns-persist-01
// challenge drafts.
//
// It speaks the protocol and nothing else: no storage, no policy about
// which challenge to solve or when to renew, no background goroutines.
// Each call is one protocol step, takes a context, and returns the
// server's view of the resource. The order flow built from these steps
// lives in the layer above.
//
// # Accounts
//
// A Client is bound to a CA, not to an account: every call that needs an
// account takes an Account (its key and URL), so one Client serves many
// accounts. Account keys are any crypto.Signer with a P-256, P-384 or
// P-521 ECDSA, RSA or Ed25519 public key (ES256, ES384, ES512, RS256,
// EdDSA).
//
// # Nonces
//
// The Client keeps a pool of the Replay-Nonce values of every response,
// error responses included, and asks newNonce (with HEAD, retried on
// transport errors and 5xx) only when the pool is empty. A badNonce error
// is re-sent at once, signed with the nonce that came with the error,
// at most 10 times.
//
// # Retries
//
// Transport errors (connection reset, EOF, timeouts), 5xx and 429
// responses are retried with a bounded backoff (250ms, 500ms, 1s, 2s, 4s),
// each attempt signed afresh with a new nonce, and never sooner than the
// server's Retry-After. When the server asks for more than a minute, or
// more than the context has left, the *Problem is returned at once with
// RetryAfter set, for the caller to schedule. Any other error response is
// a refusal and ends the call as a *Problem.
//
// Requests that are not idempotent are handled by what the server may have
// done when a response is lost: AcceptChallenge re-reads the challenge and
// FinalizeOrder the order before re-sending; ChangeKey looks the account
// up by the new key; NewAccount is re-sent (the CA returns the existing
// account); RevokeCertificate is re-sent and takes alreadyRevoked as
// success; NewOrder is re-sent and may leave an unused order behind.
//
// WaitOrder and WaitAuthorization poll no sooner than the Retry-After of
// the last response, and otherwise back off from 10ms to 1s. The caller's
// context bounds every call and every wait.
//
// # Errors
//
// Error responses are *Problem values (RFC 7807, RFC 8555 §6.7), with
// subproblems per identifier and the Retry-After time; use errors.As or
// the predicates IsRateLimited, IsBadNonce, IsUnauthorized,
// IsAccountDoesNotExist, IsCAA, IsRejectedIdentifier, IsRetryable and
// RetryAfter. An order that fails yields an *OrderError that unwraps to
// each challenge's problem.
package acme
