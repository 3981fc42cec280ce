package manager

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/store"
)

// Spec is one certificate to keep valid, as the user wants it: its
// names, key, CA and solvers (through Issuer) and hooks. What an order
// returns is an issue.Issued, what the store keeps a store.CertRecord.
type Spec struct {
	// Name is the certificate's name in the store; "" means the first
	// identifier's value.
	Name string
	// Identifiers the certificate is for (RFC 8555 §7.1.3), as returned
	// by issue.ParseIdentifiers. Required.
	Identifiers []acme.Identifier
	// Issuer places the orders: the CA (Issuer.Client.DirectoryURL also
	// says where in the store the certificate lives), the account and the
	// solvers. Required.
	Issuer *issue.Issuer
	// KeyType of new private keys; empty means keys.EC256.
	KeyType keys.Type
	// ReuseKey keeps the private key of the certificate held when
	// renewing, instead of making a new one.
	ReuseKey bool
	// Key, if set, is the private key of the next order when no
	// certificate is held or ReuseKey is not set (a key the user brings);
	// with ReuseKey it is then kept with the certificate.
	Key crypto.Signer
	// Profile asks the CA for a certificate profile.
	Profile string
	// PreferredChain picks an alternate chain (see issue.Request).
	PreferredChain string
	// CSR, if set (DER), is sent at every order instead of a CSR made
	// from a key: the user keeps the private key, and the store holds
	// the chain only (issue.Request.CSR).
	CSR []byte
	// Hooks run on this certificate's events, after Config.Hooks.
	Hooks []Hook
	// Prepare, if set, is called before each order of this certificate,
	// once the store's lock is held and the store shows that an order is
	// still needed, and before anything is sent to the CA: it checks and
	// takes what the order needs locally (a port for a built-in server).
	// Its error fails the attempt, as a failed order does; release is
	// called when the order has ended.
	Prepare func(ctx context.Context) (release func(), err error)
}

// Defaults of Config fields left zero.
const (
	DefaultCheckInterval = 12 * time.Hour
	// DefaultCacheSize is the cache size a Manager takes when
	// Config.CacheSize is zero and it manages more certificates than
	// this.
	DefaultCacheSize = 10_000
	// DefaultIndexPoll is Config.IndexPoll's default.
	DefaultIndexPoll    = 10 * time.Second
	DefaultJitter       = 0.1
	DefaultConcurrency  = 4
	DefaultOrderTimeout = 10 * time.Minute
)

// DefaultBackoff returns the wait after the n-th failure in a row (the
// last entry repeats) used when Config.Backoff is empty: 1m, 5m, 15m, 1h,
// 3h, 6h, 12h. It is a function so that no caller can change the table
// every Manager shares.
func DefaultBackoff() []time.Duration {
	return []time.Duration{
		time.Minute,
		5 * time.Minute,
		15 * time.Minute,
		time.Hour,
		3 * time.Hour,
		6 * time.Hour,
		12 * time.Hour,
	}
}

// Config configures a Manager. Its fields are read by New and must not be
// changed afterwards.
type Config struct {
	// Store holds the certificates and the Manager's own state
	// ("manager/<ca>/<name>.json"). Required.
	Store store.Store
	// Layout of the certificates in Store.
	Layout store.Layout
	// Clock tells the time; nil means the real time.
	Clock Clock
	// Logger receives what the Manager does; nil discards it.
	Logger *slog.Logger

	// CacheSize, if positive, bounds how many parsed certificates (key,
	// chain, leaf: a few KB each) the Manager keeps in memory, and makes
	// it start from the store's index (store.Certs.Index) rather than
	// read every certificate: Manage of 64 or more certificates reads
	// only those the index says are missing, revoked, due, in the panic
	// interval or not covering their identifiers, and keeps a summary
	// (about 700 bytes) of the others, which are read when first
	// needed: Load (a handshake through autotls), a check that finds
	// them due, an order. Beyond CacheSize, the least recently served
	// are dropped back to their summary. Lookup finds only those in
	// memory (Load reads the others).
	//
	// Zero (the default) keeps every certificate parsed, as before,
	// until a Manage call brings the number managed above
	// DefaultCacheSize: from then on the Manager acts as with
	// CacheSize = DefaultCacheSize, so that a big store's memory stays
	// bounded without configuration. Negative keeps every certificate
	// parsed however many there are. A store that keeps no index (see
	// store.Appender) keeps every certificate parsed. It must not change
	// after New.
	CacheSize int
	// ARISpread is the window, from New, over which the first fetches
	// of renewal information (RFC 9773) are spread for certificates that
	// have never had one (a first start on a store without saved
	// schedules), each at a moment its own draw places in the window,
	// so that the CA is not asked for 100,000 at once. It delays no
	// renewal: a certificate due earlier by the lifetime rule is checked
	// (and its renewal information fetched) when due. Zero means 100 ms
	// per certificate managed beyond the first 100 (none for 100 or
	// fewer, as before; 2.8 hours for 100,000), at most half of
	// CheckInterval; negative means no spreading. Concurrency bounds the
	// fetches under way besides.
	ARISpread time.Duration
	// IndexPoll is how often Run looks at the store's index for
	// certificates that other processes stored, when Manage read the
	// index (CacheSize > 0): one Stat per index shard, and a read of the
	// lines added. Zero means DefaultIndexPoll. A store that is a
	// store.Watcher reports them at once besides.
	IndexPoll time.Duration

	// CheckInterval is the longest time between two examinations of a
	// certificate (fetching renewal information again, noticing a changed
	// store). Zero means DefaultCheckInterval.
	CheckInterval time.Duration
	// RenewFraction renews a certificate once this fraction of its
	// lifetime is left. Zero means 1/3, and 1/2 for certificates valid
	// for ten days or less, and then the CA's renewal information, when
	// offered, takes precedence; when set, the earlier of the two wins.
	RenewFraction float64
	// ReissueBefore, if set, replaces RenewFraction: a certificate is
	// renewed once less than ReissueBefore is left, but never before a
	// quarter of its lifetime has passed, so that short-lived
	// certificates are not renewed in a loop. It holds even when the CA
	// offers renewal information: the earlier of the two wins.
	ReissueBefore time.Duration
	// PanicBefore: a failed attempt with less than this left raises
	// EventPanic (and with less than twice this, EventExpiringSoon).
	// Zero means a sixth of the certificate's lifetime (15 days of 90,
	// one day of 6). It is also the margin kept for retries: whatever
	// the CA's window or the rules above say, a certificate is renewed
	// with at least this much left, or with room for the first three
	// Backoff waits if that is longer (never more than half the lifetime).
	PanicBefore time.Duration
	// OnPanic is called for every EventPanic, after OnEvent. Nil means
	// logging at ERROR level with the word PANIC.
	OnPanic func(ctx context.Context, ev Event)
	// OnEvent, if set, receives every event synchronously; it must not
	// block for long.
	OnEvent func(ev Event)
	// Hooks run commands on events, through HookRunner (required when
	// there are hooks, here or in a Spec). With
	// manager/exechook's runner a hook gets the environment that runner
	// was given without its secrets: CERTKEEPER_EAB_HMAC,
	// CERTKEEPER_TSIG_SECRET, CERTKEEPER_DNS_WEBHOOK_AUTHORIZATION, the
	// variables of SecretEnv and every variable whose name contains
	// SECRET, TOKEN, PASSWORD, PASSWD, PASSPHRASE, HMAC, CREDENTIAL or
	// AUTHORIZATION or ends in KEY (unless its value is an absolute
	// path); see docs/security.md.
	Hooks []Hook
	// HookRunner runs the hooks (see HookRunner); nil runs none, and
	// then New refuses Hooks and Manage a Spec with Hooks. Use
	// exechook.New(os.Environ()) for programs with this process's
	// environment (the certkeeper command does).
	HookRunner HookRunner
	// SecretEnv names further variables kept from hooks: those the
	// program's settings read secrets from.
	SecretEnv []string
	// Metrics, if set, receives measurements.
	Metrics Metrics
	// Backoff is the wait after the n-th failure in a row:
	// Backoff[min(n-1, len-1)], lengthened by up to Jitter, and never
	// sooner than the CA's Retry-After. While the certificate held is
	// valid, a wait that would reach its expiry is shortened to half the
	// time left (or Backoff[0] if longer and still before expiry), so
	// that only the CA's Retry-After can put the next attempt after it.
	// Nil or empty means DefaultBackoff.
	Backoff []time.Duration
	// Jitter is the fraction by which renewal times, check intervals and
	// backoffs are spread at random. Zero means DefaultJitter; negative
	// means none.
	Jitter float64
	// Rand returns a number in [0, 1); nil means math/rand/v2.Float64.
	Rand func() float64

	// Concurrency bounds the orders the background loop runs at once;
	// zero means DefaultConcurrency. Renew calls are not bounded by it.
	Concurrency int
	// OrderTimeout bounds one order with its save; zero means
	// DefaultOrderTimeout.
	OrderTimeout time.Duration

	// RescueDir is where a certificate the CA issued is written when the
	// store refuses it (a full disk, a read-only store), so that it is
	// never lost: a new file "certkeeper-rescue-<name>-<time>.pem"
	// (mode 0600) holding the key and the chain, named in the error.
	// Empty means os.TempDir().
	RescueDir string
}

// withDefaults checks cfg and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Store == nil {
		return cfg, errors.New("manager: Config.Store is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.IndexPoll <= 0 {
		cfg.IndexPoll = DefaultIndexPoll
	}
	if cfg.RenewFraction < 0 || cfg.RenewFraction >= 1 {
		return cfg, fmt.Errorf("manager: RenewFraction %v is not in (0, 1)", cfg.RenewFraction)
	}
	if cfg.OnPanic == nil {
		cfg.OnPanic = defaultPanic(cfg.Logger)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	if len(cfg.Backoff) == 0 {
		cfg.Backoff = DefaultBackoff()
	}
	for _, d := range cfg.Backoff {
		if d <= 0 {
			return cfg, fmt.Errorf("manager: Backoff holds %v, which is not positive", d)
		}
	}
	switch {
	case cfg.Jitter == 0:
		cfg.Jitter = DefaultJitter
	case cfg.Jitter < 0:
		cfg.Jitter = 0
	case cfg.Jitter > 1:
		return cfg, fmt.Errorf("manager: Jitter %v is above 1", cfg.Jitter)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.OrderTimeout <= 0 {
		cfg.OrderTimeout = DefaultOrderTimeout
	}
	for i, h := range cfg.Hooks {
		if h.Command == "" {
			return cfg, fmt.Errorf("manager: hook %d has no Command", i)
		}
	}
	if len(cfg.Hooks) > 0 && cfg.HookRunner == nil {
		return cfg, ErrNoHookRunner
	}
	return cfg, nil
}

// Status describes one managed certificate.
type Status struct {
	// CA is the directory URL of the certificate's CA. LoadStatus leaves
	// it "" for a state an older version stored without it, when asked
	// for every CA.
	CA          string
	Name        string
	Identifiers []string
	// NotBefore and NotAfter are the validity of the certificate held;
	// zero when none is.
	NotBefore, NotAfter time.Time
	// NextRenewal is when the next order is due: the renewal time, or
	// the next attempt after a failure.
	NextRenewal time.Time
	LastSuccess time.Time
	// LastError is the error of the last attempt if it failed, else "".
	LastError string
	// Failures counts the failed attempts in a row.
	Failures int
	// Retrying says that NextRenewal is the next attempt after a failure
	// (the backoff, later than the renewal time), not the renewal time.
	Retrying bool
	// ARIWindowStart and ARIWindowEnd are the CA's suggested renewal
	// window (RFC 9773 §4.2), zero when the CA offers none.
	ARIWindowStart, ARIWindowEnd time.Time
	// Serial is the serial number (hexadecimal) of the certificate held
	// (from LoadStatus: of the certificate the state describes), and
	// CertIdentifiers the names and IP addresses it is valid for (not
	// filled in by LoadStatus); both empty when none is held.
	Serial          string
	CertIdentifiers []string
	// PendingOrder is the URL of an order an attempt placed and did not
	// see to the end (cancelled or killed), which the next attempt
	// continues; "" when none.
	PendingOrder string
}
