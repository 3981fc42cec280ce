package autotls

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/publicsuffix"
	"golang.org/x/time/rate"

	"github.com/certkeeper/certkeeper/issue"
)

// Defaults of OnDemandPolicy's zero fields.
const (
	DefaultMaxCertificates = 100
	DefaultFailureTTL      = 10 * time.Minute
	DefaultHandshakeWait   = 30 * time.Second
	DefaultIssueTimeout    = 3 * time.Minute
)

// DefaultRateLimit returns the global on-demand limit used when
// OnDemandPolicy.RateLimit is zero: 10 new certificates a minute.
func DefaultRateLimit() Rate { return Rate{Events: 10, Per: time.Minute} }

// DefaultDomainRateLimit returns the per-registrable-domain limit used
// when OnDemandPolicy.DomainRateLimit is zero: 5 new certificates an hour.
func DefaultDomainRateLimit() Rate { return Rate{Events: 5, Per: time.Hour} }

// ErrNotAllowed is wrapped by the handshake error for a name that neither
// Config.Names nor the on-demand policy allows.
var ErrNotAllowed = errors.New("autotls: name not allowed")

// ErrRateLimited is wrapped by the handshake error for a name the on-demand
// policy allows but that would exceed a rate limit or the certificate cap.
var ErrRateLimited = errors.New("autotls: on-demand issuance rate-limited")

// OnDemandPolicy says which names not listed in Config.Names may get a
// certificate at their first TLS handshake, and how fast. A name is allowed
// if it matches Allow or, failing that, if Decide returns nil; a policy with
// neither allows nothing. The fields must not change after the Config's
// first use.
type OnDemandPolicy struct {
	// Allow lists the names allowed: exact DNS names ("shop.example.com")
	// and one-label wildcard patterns ("*.example.com" matches
	// "a.example.com", not "example.com" nor "a.b.example.com"). The
	// certificate obtained is always for the exact name of the handshake.
	Allow []string

	// Decide, if set, is asked about names that Allow does not match; nil
	// error allows the name. It runs inside the TLS handshake with the
	// handshake's context, so it should be fast; its refusals are not
	// cached.
	Decide func(ctx context.Context, name string) error

	// MaxCertificates caps the number of certificates obtained on demand
	// that are kept at once (failed names are released). Zero means
	// DefaultMaxCertificates; negative means no cap.
	MaxCertificates int

	// RateLimit bounds the new orders started on demand, all names
	// together. Zero means DefaultRateLimit.
	RateLimit Rate

	// DomainRateLimit bounds the new orders started on demand per
	// registrable domain (eTLD+1 by the public suffix list, so
	// "a.example.co.uk" and "b.example.co.uk" share one). Zero means
	// DefaultDomainRateLimit.
	DomainRateLimit Rate

	// FailureTTL is how long a name whose issuance at a handshake failed
	// is refused without a new order (the Manager keeps retrying
	// Config.Names on its own backoff). Zero means DefaultFailureTTL, which
	// also applies to Config.Names when OnDemand is nil.
	FailureTTL time.Duration

	// HandshakeWait is the longest a handshake waits for a certificate being
	// issued (its own context may end it sooner); issuance continues in the
	// background for the next handshake. Zero means DefaultHandshakeWait.
	HandshakeWait time.Duration

	// IssueTimeout bounds one on-demand issuance, which runs apart from
	// the handshake that started it. Zero means DefaultIssueTimeout.
	IssueTimeout time.Duration

	// ReleaseIdle: when MaxCertificates is reached and a new name needs
	// room, the on-demand certificate least recently used in a
	// handshake is released, if unused for at least this long: the
	// Manager forgets it (Unmanage) while the store keeps it, and its
	// next handshake loads it back without a new order. So the cap
	// bounds memory, and names that are in use keep being served. Zero
	// means DefaultReleaseIdle; negative never releases (the cap then
	// refuses new names until a restart).
	ReleaseIdle time.Duration

	// RefusalLogInterval: refused on-demand handshakes are logged as one
	// summary line (counts by reason, the last name) per interval, not
	// one line each. Zero means DefaultRefusalLogInterval.
	RefusalLogInterval time.Duration
}

// Defaults of the on-demand policy's release and refusal logging.
const (
	DefaultReleaseIdle        = 10 * time.Minute
	DefaultRefusalLogInterval = time.Minute
)

// Rate is a number of events per interval, allowed in bursts of Events.
type Rate struct {
	Events int
	Per    time.Duration
}

func (r Rate) orDefault(d Rate) Rate {
	if r.Events <= 0 || r.Per <= 0 {
		return d
	}
	return r
}

func (r Rate) limiter() *rate.Limiter {
	return rate.NewLimiter(rate.Every(r.Per/time.Duration(r.Events)), r.Events)
}

// patterns is a compiled allowlist.
type patterns struct {
	exact map[string]bool
	wild  map[string]bool // parent domains of "*.parent" patterns
}

func compilePatterns(list []string) (patterns, error) {
	p := patterns{exact: map[string]bool{}, wild: map[string]bool{}}
	for _, s := range list {
		n, err := issue.NormalizeDNSName(s)
		if err != nil {
			return p, fmt.Errorf("autotls: OnDemand.Allow: %w", err)
		}
		if parent, ok := strings.CutPrefix(n, "*."); ok {
			p.wild[parent] = true
		} else {
			p.exact[n] = true
		}
	}
	return p, nil
}

// match reports whether the normalized name is allowed.
func (p patterns) match(name string) bool {
	if p.exact[name] {
		return true
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		return p.wild[name[i+1:]]
	}
	return false
}

// negCache remembers names whose issuance failed.
type negCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[string]negEntry
}

type negEntry struct {
	until time.Time
	err   error
}

// maxNegEntries bounds the negative cache; beyond it, new failures are
// not remembered until old ones expire.
const maxNegEntries = 10000

func (c *negCache) get(name string, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[name]
	if !ok {
		return nil
	}
	if now.After(e.until) {
		delete(c.entries, name)
		return nil
	}
	return e.err
}

func (c *negCache) put(name string, err error, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]negEntry{}
	}
	if len(c.entries) >= maxNegEntries {
		for k, e := range c.entries {
			if now.After(e.until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxNegEntries {
			return
		}
	}
	c.entries[name] = negEntry{until: now.Add(c.ttl), err: err}
}

// limiters applies the global and per-registrable-domain rate limits.
type limiters struct {
	mu        sync.Mutex
	global    *rate.Limiter
	domain    Rate
	perDomain map[string]*rate.Limiter
}

func (l *limiters) init(global, domain Rate) {
	l.global = global.limiter()
	l.domain = domain
	l.perDomain = map[string]*rate.Limiter{}
}

// maxDomainLimiters bounds the per-domain map; idle limiters (full
// buckets) are dropped when it is reached.
const maxDomainLimiters = 10000

// registrable returns name's eTLD+1, or name itself when it has none (a
// public suffix, or a single label).
func registrable(name string) string {
	if d, err := publicsuffix.EffectiveTLDPlusOne(name); err == nil {
		return d
	}
	return name
}

// allow takes one token from both the global and the domain's bucket, or
// none.
func (l *limiters) allow(name string, now time.Time) error {
	dom := registrable(name)
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.global.ReserveN(now, 1)
	if !g.OK() || g.DelayFrom(now) > 0 {
		g.CancelAt(now)
		return fmt.Errorf("%w: too many new certificates overall", ErrRateLimited)
	}
	dl := l.perDomain[dom]
	if dl == nil {
		if len(l.perDomain) >= maxDomainLimiters {
			for k, v := range l.perDomain {
				if v.TokensAt(now) >= float64(v.Burst()) {
					delete(l.perDomain, k)
				}
			}
		}
		if len(l.perDomain) >= maxDomainLimiters {
			// Every tracked domain ordered recently: refuse a new one
			// rather than let the map grow without bound.
			g.CancelAt(now)
			return fmt.Errorf("%w: too many domains with recent certificates", ErrRateLimited)
		}
		dl = l.domain.limiter()
		l.perDomain[dom] = dl
	}
	d := dl.ReserveN(now, 1)
	if !d.OK() || d.DelayFrom(now) > 0 {
		d.CancelAt(now)
		g.CancelAt(now)
		return fmt.Errorf("%w: too many new certificates for %s", ErrRateLimited, dom)
	}
	return nil
}
