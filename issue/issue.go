// Package issue runs an ACME order from start to finish: it places the
// order, picks and runs a solver for every authorization at once, tells the
// CA to validate, waits on the order, finalizes it with a CSR and downloads
// the chain the caller prefers. It is the "porcelain" over package acme.
//
// An Issuer holds no state between calls beyond its configuration, so one
// Issuer may run many orders concurrently.
package issue

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/keys"
)

// DefaultPreference returns the challenge order used when
// Issuer.Preference is empty: http-01, tls-alpn-01, dns-01,
// dns-account-01, dns-persist-01.
func DefaultPreference() []acme.ChallengeType {
	return []acme.ChallengeType{
		acme.ChallengeHTTP01,
		acme.ChallengeTLSALPN01,
		acme.ChallengeDNS01,
		acme.ChallengeDNSAccount01,
		acme.ChallengeDNSPersist01,
	}
}

// ReplacesOrderTimeout bounds the newOrder request of an order that names
// the certificate it replaces (Request.Replaces, RFC 9773 §5), retries
// included: a CA that keeps failing on the field is given up on soon, so
// that the caller can order again without it.
const ReplacesOrderTimeout = 15 * time.Second

// DefaultCleanUpTimeout bounds the clean-up of challenges when the order's
// own context is already done.
const DefaultCleanUpTimeout = 30 * time.Second

// Issuer obtains certificates from one CA for one account. Its fields must
// not change while an order runs.
type Issuer struct {
	// Client speaks to the CA. Required.
	Client *acme.Client
	// Account is the registered account orders are placed with (its URL
	// and Key set). Required unless Accounts is set.
	Account acme.Account
	// Accounts, if set, supplies the account for each order instead of
	// Account: it is asked at the start of every order, so an account
	// can be loaded or registered only when the CA is first needed, and
	// when the CA answers the new order with accountDoesNotExist (RFC
	// 8555 §7.3.1: the CA no longer knows the account, as after a reset)
	// it is told so and asked once more, and the order is placed again
	// with the account it then gives.
	Accounts AccountSource
	// Solvers maps each challenge type the caller can solve to its solver.
	// At least one is required.
	Solvers map[acme.ChallengeType]challenge.Solver
	// Preference orders the challenge types to choose from when the CA
	// offers several for an authorization; types without a solver are
	// skipped. Empty means DefaultPreference.
	Preference []acme.ChallengeType
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
	// CleanUpTimeout bounds challenge clean-up once the order's context is
	// done; zero means DefaultCleanUpTimeout.
	CleanUpTimeout time.Duration
	// ChallengeRetries is how many more times a challenge is answered when
	// the CA reports its validation failed but leaves it open to another
	// try (an "error" on a challenge still pending or processing, RFC 8555
	// §8.2), before the order ends with a *ValidationError. Zero, the
	// default, ends it at the first failure. A challenge or authorization
	// the CA marks invalid is final whatever this says: a new order is
	// needed.
	ChallengeRetries int
	// RequestsInFlight bounds the requests one order sends at once while
	// it fetches its authorizations and answers their challenges (the
	// solvers present every challenge at once regardless). 0 means
	// DefaultRequestsInFlight, which needs no newNonce request beyond the
	// first: each answer's Replay-Nonce serves the next request. A CA far
	// away (a round trip of 100 ms or more) orders of many names sooner
	// with a wider bound, at the cost of one newNonce request for each
	// request in flight beyond two (RFC 8555 §7.2).
	RequestsInFlight int

	// timing overrides defaultWatch (tests).
	timing *watchTiming
}

// AccountSource supplies the account orders are placed with (see
// Issuer.Accounts). Its methods must be safe for concurrent use.
type AccountSource interface {
	// Account returns a registered account (URL and Key set).
	Account(ctx context.Context) (acme.Account, error)
	// Invalid reports that the CA answered accountDoesNotExist for acct
	// (err): the next Account call must not return it again.
	Invalid(ctx context.Context, acct acme.Account, err error)
}

// Request says what certificate to obtain.
type Request struct {
	// Identifiers the certificate is for, in the canonical form
	// ParseIdentifiers returns (others are refused with
	// ErrInvalidIdentifier before any request). Required.
	Identifiers []acme.Identifier
	// KeyType of the new private key, when neither Key nor CSR is set.
	// Empty means keys.EC256.
	KeyType keys.Type
	// Key, if set, is used instead of a new key.
	Key crypto.Signer
	// CSR, if set (DER), is sent as is; no key is generated and the
	// returned Issued has no Key.
	CSR []byte
	// Profile asks the CA for a certificate profile (draft-ietf-acme-profiles).
	Profile string
	// NotBefore and NotAfter ask for a validity period, if the CA allows.
	NotBefore, NotAfter time.Time
	// Replaces is the ARI certificate ID (acme.ARICertID) of the
	// certificate this one renews (RFC 9773 §5). The newOrder request
	// that names it is given ReplacesOrderTimeout, retries included.
	Replaces string
	// PreferredChain picks, among the chains the CA offers, the first whose
	// top certificate's issuer (or any certificate's subject or issuer)
	// common name equals it. No match keeps the default chain.
	PreferredChain string
	// Resume, if set, is the URL of an order placed earlier for the same
	// identifiers (by an attempt that was interrupted: Ctrl-C, a kill, a
	// lost lock): Obtain fetches it and continues it instead of placing a
	// new one when it is for exactly Identifiers (as a set) and, when
	// both name one, for Profile, and the CA says it is pending or ready
	// (it is authorized and finalized here), or, when Key or CSR is set,
	// processing (it is waited on) or valid (its certificate is
	// downloaded). An order already finalized was finalized with the key
	// of the earlier attempt: the caller that wants it resumed passes
	// that key (or CSR) again, and a certificate for another key is
	// refused as always (BadCertificateError) and a new order placed. Any
	// other order (invalid, expired, or finalized when no key is given),
	// or one that cannot be fetched (a 404), is logged and a new order is
	// placed as without Resume. A resumed order keeps what it was placed
	// with (Profile, NotBefore, NotAfter, Replaces are not sent again).
	Resume string
	// ResumeOnly, with Resume, places no new order: when the order Resume
	// names cannot be continued (as above), Obtain returns an error that
	// wraps ErrNotResumed instead. It is for finishing an order another
	// process left (killed after the CA issued, say) when no new
	// certificate is wanted otherwise.
	ResumeOnly bool
	// OnOrder, if set, is called with the URL of a newly placed order as
	// soon as the CA has answered, before anything else is done with it,
	// so that the caller can record it and pass it as Resume after an
	// interruption. It is not called for a resumed order.
	OnOrder func(url string)
}

// Issued is the certificate an order obtained (RFC 8555 §7.4.2): its
// identifiers, private key, the chain chosen and the chains offered.
type Issued struct {
	Identifiers []acme.Identifier
	// Key is the certificate's private key; nil when the Request gave a CSR.
	Key crypto.Signer
	// Chain is the chain chosen (leaf first) and Chains all the CA offered
	// that passed the checks of Obtain, in the CA's order (the default
	// first, unless it failed them).
	Chain  acme.Chain
	Chains []acme.Chain
	// Leaf is Chain.Certificates[0].
	Leaf     *x509.Certificate
	OrderURL string
}

// Obtain runs one order to the end and returns the certificate. Every
// challenge it presented is cleaned up before it returns, whatever
// happened.
//
// Nothing malformed is sent: identifiers must be as ParseIdentifiers
// returns them, or Obtain fails with ErrInvalidIdentifier before any
// request. A validation the CA reports failed ends the order within
// seconds with a *ValidationError in the CA's words, whatever status the
// CA left the challenge in (see Issuer.ChallengeRetries). What the CA
// issues is checked before it is returned (see BadCertificateError): a
// certificate is returned only if its leaf names exactly the identifiers,
// certifies the key (or the CSR's key) and chains by signature.
func (is *Issuer) Obtain(ctx context.Context, req Request) (*Issued, error) {
	if err := is.check(); err != nil {
		return nil, err
	}
	if is.Accounts == nil {
		return is.obtain(ctx, req)
	}
	// Local checks first: no account is loaded or registered for an
	// order that cannot be placed.
	if err := is.precheck(req); err != nil {
		return nil, err
	}
	acct, err := is.Accounts.Account(ctx)
	if err != nil {
		return nil, fmt.Errorf("issue: account: %w", err)
	}
	with := *is
	with.Accounts, with.Account = nil, acct
	cert, err := with.obtain(ctx, req)
	if err == nil || !errors.Is(err, errNewOrder) || !acme.IsAccountDoesNotExist(err) {
		return cert, err
	}
	is.logger().WarnContext(ctx, "the CA no longer knows the account; asking for another", "account", acct.URL, "error", err)
	is.Accounts.Invalid(ctx, acct, err)
	if with.Account, err = is.Accounts.Account(ctx); err != nil {
		return nil, fmt.Errorf("issue: account: %w", err)
	}
	return with.obtain(ctx, req)
}

// errNewOrder marks the failure of the newOrder request, the first one
// an order makes with the account.
var errNewOrder = errors.New("new order")

// ErrNotResumed is wrapped by the error of Obtain when Request.ResumeOnly
// is set and the order Request.Resume names cannot be continued.
var ErrNotResumed = errors.New("the order of an earlier attempt cannot be continued")

// precheck refuses what no solver can do and requests that cannot be
// made, before anything is sent.
func (is *Issuer) precheck(req Request) error {
	if len(req.Identifiers) == 0 {
		return fmt.Errorf("issue: %w: no identifiers", ErrInvalidIdentifier)
	}
	for _, id := range req.Identifiers {
		if err := checkCanonical(id); err != nil {
			return err
		}
		if len(is.candidates(id)) == 0 {
			return &NoSolverError{Identifier: id, Have: is.solverTypes()}
		}
	}
	return nil
}

func (is *Issuer) obtain(ctx context.Context, req Request) (*Issued, error) {
	// Refuse what no solver can do before an order is placed.
	if err := is.precheck(req); err != nil {
		return nil, err
	}
	pending, end, err := startCSR(req)
	if err != nil {
		return nil, err
	}
	defer end()
	start := time.Now()
	if order, ok := is.resume(ctx, req); ok {
		cert, err := is.complete(ctx, req, order, pending, start)
		var bad *BadCertificateError
		if !errors.As(err, &bad) || (order.Status != acme.StatusProcessing && order.Status != acme.StatusValid) {
			return cert, err
		}
		// Finalized by the earlier attempt with another key than the
		// one given now: not ours to use.
		is.logger().WarnContext(ctx, "the order of an earlier attempt was finalized with another key"+req.next(), "order", order.URL, "error", err)
	}
	if req.ResumeOnly {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s", ErrNotResumed, req.Resume)
	}
	order, err := is.newOrder(ctx, req)
	if err != nil {
		return nil, err
	}
	return is.complete(ctx, req, order, pending, start)
}

// newOrder places the order req asks for and tells req.OnOrder.
func (is *Issuer) newOrder(ctx context.Context, req Request) (acme.Order, error) {
	var opts []acme.OrderOption
	if req.Profile != "" {
		opts = append(opts, acme.WithProfile(req.Profile))
	}
	if !req.NotBefore.IsZero() {
		opts = append(opts, acme.WithNotBefore(req.NotBefore))
	}
	if !req.NotAfter.IsZero() {
		opts = append(opts, acme.WithNotAfter(req.NotAfter))
	}
	if req.Replaces != "" {
		opts = append(opts, acme.WithReplaces(req.Replaces))
		// A CA that fails on replaces (a 500, say) is not retried for
		// the whole order's time: the caller may order again without it
		// (see Request.Replaces).
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ReplacesOrderTimeout)
		defer cancel()
	}
	order, err := is.Client.NewOrder(ctx, is.Account, req.Identifiers, opts...)
	if err != nil {
		return acme.Order{}, fmt.Errorf("issue: %w: %w", errNewOrder, err)
	}
	is.logger().InfoContext(ctx, "order placed", "order", order.URL, "identifiers", len(req.Identifiers), "status", order.Status)
	if req.OnOrder != nil {
		req.OnOrder(order.URL)
	}
	return order, nil
}

// complete takes order, placed or resumed, from where it stands to the
// certificate: it answers the challenges of a pending order, finalizes a
// ready one with the CSR pending gives (made meanwhile), waits on a
// processing one, and downloads and checks (against the key or CSR) a
// valid one's certificate.
func (is *Issuer) complete(ctx context.Context, req Request, order acme.Order, pending func(context.Context) (crypto.Signer, []byte, error), start time.Time) (*Issued, error) {
	log := is.logger()
	var (
		key crypto.Signer
		csr []byte
		err error
	)
	if order.Status == acme.StatusPending {
		cleanup, answers, err := is.authorize(ctx, order)
		if err != nil {
			return nil, err
		}
		order, err = is.awaitValidation(ctx, order, answers, func(ctx context.Context) ([]byte, error) {
			_, csr, err := pending(ctx)
			return csr, err
		})
		cleanup()
		if err != nil {
			return nil, err
		}
		if order.Status == acme.StatusProcessing || order.Status == acme.StatusValid {
			log.InfoContext(ctx, "authorizations valid; finalized", "order", order.URL, "status", order.Status)
		}
	}
	if key, csr, err = pending(ctx); err != nil {
		return nil, err
	}
	if order.Status == acme.StatusReady {
		log.InfoContext(ctx, "authorizations valid; finalizing", "order", order.URL)
		order, err = is.Client.FinalizeOrder(ctx, is.Account, order, csr)
		if err != nil {
			return nil, fmt.Errorf("issue: finalize: %w", err)
		}
	}
	if order.Status == acme.StatusProcessing {
		order, err = is.Client.WaitOrder(ctx, is.Account, order.URL)
		if err != nil {
			return nil, fmt.Errorf("issue: %w", err)
		}
	}
	if order.Status == acme.StatusInvalid {
		return nil, fmt.Errorf("issue: %w", is.orderError(ctx, order))
	}
	if order.Status != acme.StatusValid || order.CertificateURL == "" {
		return nil, fmt.Errorf("issue: order %s ended %q without a certificate", order.URL, order.Status)
	}
	chains, err := is.Client.GetCertificateChains(ctx, is.Account, order.CertificateURL)
	if err != nil {
		return nil, fmt.Errorf("issue: download certificate: %w", err)
	}
	chosen, chains, err := is.verified(ctx, chains, req, key, csr)
	if err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "certificate issued", "order", order.URL, "not_after", chosen.Certificates[0].NotAfter, "took", time.Since(start))
	return &Issued{
		Identifiers: req.Identifiers,
		Key:         key,
		Chain:       chosen,
		Chains:      chains,
		Leaf:        chosen.Certificates[0],
		OrderURL:    order.URL,
	}, nil
}

func (is *Issuer) check() error {
	switch {
	case is.Client == nil:
		return errors.New("issue: Issuer.Client is nil")
	case is.Accounts == nil && (is.Account.URL == "" || is.Account.Key == nil):
		return errors.New("issue: Issuer.Account is not a registered account (URL and Key required) and Issuer.Accounts is nil")
	case len(is.Solvers) == 0:
		return errors.New("issue: Issuer.Solvers is empty")
	}
	return nil
}

func (is *Issuer) logger() *slog.Logger {
	if is.Logger != nil {
		return is.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (is *Issuer) preference() []acme.ChallengeType {
	if len(is.Preference) > 0 {
		return is.Preference
	}
	return DefaultPreference()
}

// candidates lists, in preference order, the challenge types this issuer
// could use for id, before knowing what the CA offers: wildcards need a
// DNS challenge (RFC 8555 §7.1.3), IP addresses cannot use one (RFC 8738 §7).
func (is *Issuer) candidates(id acme.Identifier) []acme.ChallengeType {
	var out []acme.ChallengeType
	for _, t := range is.preference() {
		if is.Solvers[t] == nil {
			continue
		}
		dns := t == acme.ChallengeDNS01 || t == acme.ChallengeDNSAccount01 || t == acme.ChallengeDNSPersist01
		if IsWildcard(id) && !dns {
			continue
		}
		if id.Type == acme.IdentifierIP && dns {
			continue
		}
		out = append(out, t)
	}
	return out
}

func (is *Issuer) solverTypes() []acme.ChallengeType {
	var ts []acme.ChallengeType
	for t := range is.Solvers {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// NoSolverError says that no configured solver can validate an identifier,
// either before the order (a wildcard without a DNS solver) or because
// the CA offered no challenge type the caller can solve.
type NoSolverError struct {
	Identifier acme.Identifier
	Have       []acme.ChallengeType
	Offered    []acme.ChallengeType // empty when known before ordering
}

func (e *NoSolverError) Error() string {
	what := "an http-01 or tls-alpn-01 solver"
	switch {
	case IsWildcard(e.Identifier):
		what = "a dns-01 (or dns-account-01) solver, the only way to validate a wildcard"
	case e.Identifier.Type == acme.IdentifierDNS:
		what = "an http-01, tls-alpn-01 or dns-01 solver"
	}
	s := fmt.Sprintf("issue: no solver for %s %q: it needs %s; configured: %v", e.Identifier.Type, e.Identifier.Value, what, e.Have)
	if len(e.Offered) > 0 {
		s += fmt.Sprintf("; the CA offers: %v", e.Offered)
	}
	return s
}

// orderError builds the *acme.OrderError of an order found invalid
// outside acme.Client.WaitOrder (as newOrder's answer): the order's
// problem and its invalid authorizations, with their challenges' errors.
func (is *Issuer) orderError(ctx context.Context, o acme.Order) *acme.OrderError {
	e := &acme.OrderError{Order: o, Problem: o.Error}
	for _, u := range o.Authorizations {
		a, err := is.Client.GetAuthorization(ctx, is.Account, u)
		if err != nil {
			is.logger().DebugContext(ctx, "fetching an authorization of an invalid order failed", "authorization", u, "error", err)
			continue
		}
		if a.Status == acme.StatusInvalid {
			e.Authorizations = append(e.Authorizations, a)
		}
	}
	return e
}
