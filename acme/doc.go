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
// error responses included, and asks newNonce (with HEAD, retried like any
// request) only when the pool is empty and no answer is coming that could
// bring one: a request that finds the pool empty while another is in
// flight waits for that answer's nonce (one waiter per answer; a finalize,
// which a CA may answer only after issuing, is not waited for). That
// request was sent earlier, so the wait is usually shorter than a newNonce
// round trip, and one request fewer reaches the CA. A
// badNonce error is re-sent at
// once, signed with the nonce that came with the error, at most 20 times
// (21 attempts in all); then the badNonce *Problem is returned.
//
// # Retries
//
// Retries are decided by the kind of failure and bounded by the caller's
// context, not by a count. Transient failures are retried: transport
// errors (connection refused or reset, EOF, timeouts, HTTP/2 stream
// errors), 5xx responses other than 501, 408 and 429 (or a rateLimited
// problem). Each retry waits with exponential backoff (250ms doubling to
// 10s, drawn between half and all of it) and never less than the server's
// Retry-After, and each is signed afresh with a new nonce. A Retry-After
// holds beyond the call that received it: a 5xx's for every request to
// that URL, a 429's for the account's requests to it — to newOrder, for
// the orders of the same identifiers only (a CA limits some things per
// name: one name's limit, for days maybe, must not stop every other
// order), unless orders for three sets of identifiers are refused so
// with none accepted in between, when it is taken for the account's
// limit and holds back every order. They go on
// until the context's deadline; a context without a deadline gets five
// minutes from the first attempt. A CA that cannot be reached at all (a
// refused connection, no route, a name that does not resolve) is given
// up on after 15 seconds of that, with the dial error, rather than at the
// deadline: it is down, and the caller (a daemon's backoff, a person) is
// better told. A Retry-After more than a minute away is the caller's to
// schedule, not the call's to sleep through: the call fails at once with
// a *WaitError that carries it. When the next attempt could only come
// after the deadline (a Retry-After beyond it, or a backoff longer than
// what is left) the call fails at once with a *WaitError that quotes the
// wait and wraps the last *Problem, RetryAfter set, for the caller to
// schedule. Not retried: 501 Not Implemented (the error says what the CA
// does not support and matches errors.ErrUnsupported), any other 4xx (a
// refusal: a *Problem), redirects (see below), failures to verify the
// CA's certificate, and objects that do not match what was asked.
//
// Requests that are not idempotent are handled by what the server may have
// done when a response is lost: AcceptChallenge re-reads the challenge and
// FinalizeOrder the order before re-sending; ChangeKey looks the account
// up by the new key; NewAccount is re-sent (the CA returns the existing
// account); RevokeCertificate is re-sent and takes alreadyRevoked as
// success; NewOrder is re-sent and may leave an unused order behind.
//
// # Waits
//
// WaitOrder and WaitAuthorization poll no sooner than the Retry-After of
// the last answer about the resource, whichever call received it
// (FinalizeOrder's for the order, AcceptChallenge's for the challenge's
// authorization and its pending order), and otherwise back off from 10ms
// to 1s. A Retry-After beyond the context's deadline ends the wait at
// once; the deadline passing ends it too; both with a *WaitError naming
// the resource, its URL, its last status and how long it was awaited.
//
// FinalizeWhenReady goes on from an order whose challenges were answered
// with one request less: it finalizes in place of WaitOrder's first poll,
// when the order is likely validated (RFC 8555 §7.4), and polls only if
// the CA answers 403 orderNotReady (no sooner than that answer's
// Retry-After).
//
// # Redirects
//
// A signed POST is sent only to the URL it was signed for: a redirect
// answering one is a *RedirectError naming the status and the Location,
// neither followed (307, 308) nor turned into a GET (301, 302, 303).
// Unsigned GETs and HEADs (directory, renewal information, newNonce)
// follow at most 5 redirects, never from https to http.
//
// # Checks
//
// Objects the CA returns are checked against what was asked: a challenge
// answer must have the type, URL and token of the challenge answered; an
// order the identifiers requested (DNS names compared without case or a
// final dot), and the same on every later fetch; an authorization of an
// order this Client has seen an identifier of that order. A mismatch is a
// *MismatchError and nothing of the object is used.
//
// # Errors
//
// Error responses are *Problem values (RFC 7807, RFC 8555 §6.7), with
// subproblems per identifier and the Retry-After time; use errors.As or
// the predicates IsRateLimited, IsBadNonce, IsUnauthorized,
// IsAccountDoesNotExist, IsCAA, IsRejectedIdentifier, IsRetryable and
// RetryAfter. A rate limit always says when to retry: its Error ends with
// the Retry-After time or says the CA gave none, and RateLimitRetryAfter
// and RateLimitMessage give the same to callers. An order that fails
// yields an *OrderError that unwraps to each challenge's problem.
package acme
