package acme

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxMemo bounds each map of a memo; when one is full it is emptied (the
// memo is a help for checks and waits, not a store: forgetting only makes
// a check or a wait less informed).
const maxMemo = 4096

// memo remembers, per URL, what the CA said that a later call needs:
//
//   - the Retry-After of the last answer about a resource, so that a wait
//     that starts later honours it: WaitOrder after FinalizeOrder waits
//     for finalize's Retry-After, WaitAuthorization after AcceptChallenge
//     for the challenge's;
//   - the Retry-After of a transient error response (503, 429), which
//     every later request to that URL honours, not only the retries of
//     the call that received it (for a 429, only those of the account,
//     and for a 429 to newOrder only the orders for the same
//     identifiers, unless several sets of identifiers are refused with
//     none accepted in between: see setScopedGate);
//   - the last status seen of each order, so that WaitOrder knows whether
//     it waits for validation or for issuance;
//   - the identifiers of each order, and of the order each authorization
//     belongs to, so that GetOrder refuses an order whose identifiers
//     changed and GetAuthorization one for an identifier its order lacks.
type memo struct {
	mu         sync.Mutex
	retryAfter map[string]time.Time
	orderIDs   map[string][]Identifier // by order URL
	orderAZs   map[string][]string     // by order URL: its authorizations
	authzIDs   map[string][]Identifier // by authorization URL: its order's
	gates      map[string]gate         // by URL, or URL and account (and scope)
	accepted   map[string]uint64       // by URL and account: scoped requests accepted
	orderSt    map[string]Status       // by order URL: its last status seen
}

func (m *memo) setOrderStatus(url string, st Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.orderSt == nil || len(m.orderSt) >= maxMemo {
		m.orderSt = map[string]Status{}
	}
	m.orderSt[url] = st
}

// orderStatus returns the last status seen of the order at url, "" if
// none.
func (m *memo) orderStatus(url string) Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.orderSt[url]
}

// gate is a Retry-After a transient error response gave, which every
// request to the same URL (and, for a rate limit, from the same account)
// honours: err is that response's error.
type gate struct {
	until time.Time
	err   error
	// accepted is the count of accepted requests under the gate's URL
	// and account when it was given (scoped gates only).
	accepted uint64
}

func (m *memo) setGate(key string, until time.Time, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gates == nil || len(m.gates) >= maxMemo {
		m.gates = map[string]gate{}
	}
	if g, ok := m.gates[key]; !ok || until.After(g.until) {
		m.gates[key] = gate{until: until, err: err}
	}
}

// scopedGatesForAll is how many scopes (sets of identifiers) held back
// by a rate limit of one URL and account, with no request of another
// scope accepted since, make the limit the account's: a CA limits some
// things per account (orders per account), others per name (certificates
// per domain, failed validations, an identifier paused). One name's
// limit must not hold back every other order of the account, for as long
// as days; a limit that every order meets is taken for the account's,
// so that a queue of orders does not send one refused request for each.
const scopedGatesForAll = 3

// setScopedGate keeps until as the Retry-After of the requests under
// prefix (URL and account) for scope, given at now, and for every scope
// once scopedGatesForAll scopes are held back that were refused since
// the last request under prefix was accepted (the latest of their
// Retry-After then). now is the time of the refusal.
func (m *memo) setScopedGate(prefix, scope string, until time.Time, err error, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gates == nil || len(m.gates) >= maxMemo {
		m.gates = map[string]gate{}
	}
	n := m.accepted[prefix]
	if g, ok := m.gates[prefix+"\x00"+scope]; !ok || until.After(g.until) {
		m.gates[prefix+"\x00"+scope] = gate{until, err, n}
	}
	held, latest := 0, gate{}
	for k, g := range m.gates {
		if rest, found := strings.CutPrefix(k, prefix+"\x00"); found && rest != "" && g.until.After(now) && g.accepted == n {
			held++
			if g.until.After(latest.until) {
				latest = g
			}
		}
	}
	if held >= scopedGatesForAll {
		if g, found := m.gates[prefix]; !found || latest.until.After(g.until) {
			m.gates[prefix] = latest
		}
	}
}

// scopedAccepted records that a request under prefix (URL and account)
// with a scope was accepted: the account is not held back as a whole
// (see setScopedGate).
func (m *memo) scopedAccepted(prefix string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.accepted == nil || len(m.accepted) >= maxMemo {
		m.accepted = map[string]uint64{}
	}
	m.accepted[prefix]++
}

// gate returns the latest Retry-After kept under any of keys, and the
// error that gave it.
func (m *memo) gate(keys ...string) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var g gate
	for _, k := range keys {
		if h, ok := m.gates[k]; ok && h.until.After(g.until) {
			g = h
		}
	}
	return g.until, g.err
}

func (m *memo) setRetryAfter(url string, t time.Time) {
	if url == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.IsZero() {
		delete(m.retryAfter, url)
		return
	}
	if m.retryAfter == nil || len(m.retryAfter) >= maxMemo {
		m.retryAfter = map[string]time.Time{}
	}
	m.retryAfter[url] = t
}

// retryAfterOf returns the last Retry-After noted for url, zero if none.
func (m *memo) retryAfterOf(url string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.retryAfter[url]
}

// orderRetryAfter returns the latest Retry-After noted for the order at
// url or any of its authorizations (a pending order cannot move before
// they do).
func (m *memo) orderRetryAfter(url string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.retryAfter[url]
	for _, a := range m.orderAZs[url] {
		if ra := m.retryAfter[a]; ra.After(t) {
			t = ra
		}
	}
	return t
}

// order notes an order's identifiers and authorizations.
func (m *memo) order(url string, ids []Identifier, authzs []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.orderIDs == nil || len(m.orderIDs) >= maxMemo {
		m.orderIDs = map[string][]Identifier{}
	}
	if m.authzIDs == nil || len(m.authzIDs) >= maxMemo {
		m.authzIDs = map[string][]Identifier{}
	}
	if m.orderAZs == nil || len(m.orderAZs) >= maxMemo {
		m.orderAZs = map[string][]string{}
	}
	ids = slices.Clone(ids)
	m.orderIDs[url] = ids
	m.orderAZs[url] = slices.Clone(authzs)
	for _, a := range authzs {
		// An authorization may serve several orders (reuse): keep the
		// union of their identifiers.
		m.authzIDs[a] = appendNew(m.authzIDs[a], ids)
	}
}

func appendNew(have, ids []Identifier) []Identifier {
	for _, id := range ids {
		if !slices.ContainsFunc(have, func(h Identifier) bool { return sameIdentifier(h, id) }) {
			have = append(have, id)
		}
	}
	return have
}

func (m *memo) orderIdentifiers(url string) ([]Identifier, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids, ok := m.orderIDs[url]
	return ids, ok
}

func (m *memo) authzIdentifiers(url string) ([]Identifier, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids, ok := m.authzIDs[url]
	return ids, ok
}

// normIdentifier puts an identifier in the form CAs compare: DNS names in
// lower case without a final dot, IP addresses in their canonical text.
func normIdentifier(id Identifier) Identifier {
	switch id.Type {
	case IdentifierDNS:
		id.Value = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(id.Value)), ".")
	case IdentifierIP:
		if a, err := netip.ParseAddr(strings.TrimSpace(id.Value)); err == nil {
			id.Value = a.Unmap().WithZone("").String()
		}
	}
	return id
}

func sameIdentifier(a, b Identifier) bool { return normIdentifier(a) == normIdentifier(b) }

// sameIdentifiers reports whether a and b hold the same identifiers, in any
// order and ignoring repeats.
func sameIdentifiers(a, b []Identifier) bool {
	has := func(set []Identifier, id Identifier) bool {
		return slices.ContainsFunc(set, func(s Identifier) bool { return sameIdentifier(s, id) })
	}
	for _, id := range a {
		if !has(b, id) {
			return false
		}
	}
	for _, id := range b {
		if !has(a, id) {
			return false
		}
	}
	return true
}

// authzCovers reports whether an authorization for id (wildcard or not)
// belongs to an order for ids: RFC 8555 §7.1.4 gives a wildcard order
// identifier "*.example.org" an authorization for "example.org" with
// wildcard true.
func authzCovers(ids []Identifier, id Identifier, wildcard bool) bool {
	if wildcard {
		id.Value = "*." + id.Value
	}
	return slices.ContainsFunc(ids, func(o Identifier) bool { return sameIdentifier(o, id) })
}

// identifiersText formats identifiers for errors: "[dns:a.example ip:192.0.2.1]".
func identifiersText(ids []Identifier) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(id.Type) + ":" + id.Value)
	}
	b.WriteByte(']')
	return b.String()
}
