package acme

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// DNSIdentifier returns a "dns" identifier for name (RFC 8555 §9.7.7).
// Checking the name is left to the caller; an empty one makes NewOrder fail.
func DNSIdentifier(name string) Identifier {
	return Identifier{Type: IdentifierDNS, Value: name}
}

// IPIdentifier returns an "ip" identifier (RFC 8738 §3): the textual form
// of addr, IPv6 in RFC 5952 form. An invalid addr makes NewOrder fail.
func IPIdentifier(addr netip.Addr) Identifier {
	if !addr.IsValid() {
		return Identifier{Type: IdentifierIP}
	}
	return Identifier{Type: IdentifierIP, Value: addr.Unmap().WithZone("").String()}
}

// OrderOption is an option of NewOrder. The set is closed: the options are
// the With functions of this package.
type OrderOption interface {
	applyOrder(*wireNewOrder)
}

type wireNewOrder struct {
	Identifiers []Identifier `json:"identifiers"`
	NotBefore   string       `json:"notBefore,omitempty"`
	NotAfter    string       `json:"notAfter,omitempty"`
	Profile     string       `json:"profile,omitempty"`
	Replaces    string       `json:"replaces,omitempty"`
}

type orderOptionFunc func(*wireNewOrder)

func (f orderOptionFunc) applyOrder(o *wireNewOrder) { f(o) }

// WithNotBefore asks for the certificate's notBefore (RFC 8555 §7.4).
func WithNotBefore(t time.Time) OrderOption {
	return orderOptionFunc(func(o *wireNewOrder) { o.NotBefore = t.UTC().Format(time.RFC3339) })
}

// WithNotAfter asks for the certificate's notAfter (RFC 8555 §7.4).
func WithNotAfter(t time.Time) OrderOption {
	return orderOptionFunc(func(o *wireNewOrder) { o.NotAfter = t.UTC().Format(time.RFC3339) })
}

// WithProfile asks for a certificate profile the CA lists in its directory
// meta (draft-ietf-acme-profiles).
func WithProfile(name string) OrderOption {
	return orderOptionFunc(func(o *wireNewOrder) { o.Profile = name })
}

// WithReplaces says the order replaces the certificate with this ARI
// certificate ID (RFC 9773 §5); see ARICertID.
func WithReplaces(ariCertID string) OrderOption {
	return orderOptionFunc(func(o *wireNewOrder) { o.Replaces = ariCertID })
}

// NewOrder asks the CA for a certificate for ids (RFC 8555 §7.4).
//
// NewOrder is not idempotent. If the response is lost (a transport error)
// the request is re-sent like any other, and the CA may then hold two
// orders; the first is never used and simply expires. Re-reading would
// need the account's orders list, which CAs do not reliably serve.
func (c *Client) NewOrder(ctx context.Context, acct Account, ids []Identifier, opts ...OrderOption) (Order, error) {
	if err := checkAccount(acct); err != nil {
		return Order{}, err
	}
	if len(ids) == 0 {
		return Order{}, errors.New("acme: order without identifiers")
	}
	for _, id := range ids {
		if id.Type == "" || strings.TrimSpace(id.Value) == "" {
			return Order{}, fmt.Errorf("acme: empty identifier %+v", id)
		}
	}
	req := wireNewOrder{Identifiers: ids}
	for _, o := range opts {
		o.applyOrder(&req)
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return Order{}, err
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return Order{}, err
	}
	resp, err := c.post(ctx, request{endpoint: "newOrder", url: dir.NewOrder, key: acct.Key, kid: acct.URL, payload: payload, scope: identifierScope(ids)})
	if err != nil {
		return Order{}, err
	}
	loc := resp.location()
	if loc == "" {
		return Order{}, fmt.Errorf("acme: newOrder response from %s has no Location", trimURL(dir.NewOrder))
	}
	o, err := parseOrder(resp.body, loc)
	if err != nil {
		return Order{}, err
	}
	if !sameIdentifiers(ids, o.Identifiers) {
		return Order{}, &MismatchError{Resource: "order", URL: loc, Field: "identifiers",
			Want: identifiersText(ids), Got: identifiersText(o.Identifiers)}
	}
	return c.noteOrder(o, resp), nil
}

// noteOrder sets o.RetryAfter from resp and remembers it, with the
// order's identifiers and authorizations, for later checks and waits.
func (c *Client) noteOrder(o Order, resp *response) Order {
	o.RetryAfter = headerRetryAfter(resp.header, c.clock())
	c.memo.setRetryAfter(o.URL, o.RetryAfter)
	c.memo.setOrderStatus(o.URL, o.Status)
	if len(o.Identifiers) > 0 {
		c.memo.order(o.URL, o.Identifiers, o.Authorizations)
	}
	return o
}

// checkOrder refuses an order whose identifiers are not those the order
// at its URL had when this Client first saw it (want, if not empty, is
// what the caller holds).
func (c *Client) checkOrder(o Order, want []Identifier) error {
	if want == nil {
		want, _ = c.memo.orderIdentifiers(o.URL)
	}
	if len(want) > 0 && !sameIdentifiers(want, o.Identifiers) {
		return &MismatchError{Resource: "order", URL: o.URL, Field: "identifiers",
			Want: identifiersText(want), Got: identifiersText(o.Identifiers)}
	}
	return nil
}

// GetOrder fetches an order (POST-as-GET). RetryAfter is set from the
// response's Retry-After header.
func (c *Client) GetOrder(ctx context.Context, acct Account, url string) (Order, error) {
	resp, err := c.postAsGet(ctx, "order", acct, url, "", maxJSONBody)
	if err != nil {
		return Order{}, err
	}
	o, err := parseOrder(resp.body, url)
	if err != nil {
		return Order{}, err
	}
	if err := c.checkOrder(o, nil); err != nil {
		return Order{}, err
	}
	return c.noteOrder(o, resp), nil
}

// FinalizeOrder sends the CSR (DER) to the order's finalize URL (RFC 8555
// §7.4) and returns the order as the server returned it, often still
// "processing": use WaitOrder next. The order keeps its URL when the
// response has no Location (Pebble sends none).
//
// If the response is lost, the order is re-read before re-sending: when it
// is already processing or valid, that is the result.
func (c *Client) FinalizeOrder(ctx context.Context, acct Account, order Order, csrDER []byte) (Order, error) {
	if err := checkAccount(acct); err != nil {
		return Order{}, err
	}
	if order.FinalizeURL == "" {
		return Order{}, errors.New("acme: order has no finalize URL")
	}
	if len(csrDER) == 0 {
		return Order{}, errors.New("acme: empty CSR")
	}
	payload, err := json.Marshal(struct {
		CSR string `json:"csr"`
	}{base64.RawURLEncoding.EncodeToString(csrDER)})
	if err != nil {
		return Order{}, err
	}
	var reread Order
	resp, err := c.post(ctx, request{
		endpoint: "finalize", url: order.FinalizeURL, key: acct.Key, kid: acct.URL, payload: payload,
		reread: func(ctx context.Context) (bool, error) {
			if order.URL == "" {
				return false, nil
			}
			o, err := c.GetOrder(ctx, acct, order.URL)
			if err != nil {
				return false, err
			}
			reread = o
			return o.Status == StatusProcessing || o.Status == StatusValid, nil
		},
	})
	if err != nil {
		return Order{}, err
	}
	if resp == nil {
		return reread, nil
	}
	url := order.URL
	if loc := resp.location(); url == "" {
		url = loc
	} else if loc != "" && loc != url {
		return Order{}, &MismatchError{Resource: "order", URL: order.FinalizeURL, Field: "Location", Want: order.URL, Got: loc}
	}
	o, err := parseOrder(resp.body, url)
	if err != nil {
		return Order{}, err
	}
	if err := c.checkOrder(o, order.Identifiers); err != nil {
		return Order{}, err
	}
	return c.noteOrder(o, resp), nil
}

// OrderError is returned by WaitOrder when an order becomes invalid. It
// holds the order, the order's problem (if the CA gave one) and the
// invalid authorizations, each with its challenges' errors.
type OrderError struct {
	Order          Order
	Problem        *Problem
	Authorizations []Authorization
}

// Error quotes the CA: the order's problem (unless a failed challenge's
// says the same: a CA often copies it there) and each failed challenge's
// error detail, with the problem's type (RFC 8555 §6.7) when it says
// more than the detail, such as "connection" or "dns".
func (e *OrderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "acme: order %s is invalid", e.Order.URL)
	sep := ": "
	if e.Problem != nil && !e.challengeSays(problemText(e.Problem)) {
		fmt.Fprintf(&b, ": %s", problemText(e.Problem))
		sep = "; "
	}
	for _, a := range e.Authorizations {
		for _, ch := range a.Challenges {
			if ch.Error != nil {
				fmt.Fprintf(&b, "%s%s %s%s: %s", sep, authorizationName(a), ch.Type, problemKind(ch.Error), problemText(ch.Error))
				sep = "; "
			}
		}
	}
	return b.String()
}

// challengeSays reports whether a failed challenge's error reads text.
func (e *OrderError) challengeSays(text string) bool {
	for _, a := range e.Authorizations {
		for _, ch := range a.Challenges {
			if ch.Error != nil && problemText(ch.Error) == text {
				return true
			}
		}
	}
	return false
}

// problemKind is " (kind)" for a problem of an ACME error type (RFC 8555
// §6.7) other than the generic ones, "" otherwise.
func problemKind(p *Problem) string {
	kind, ok := strings.CutPrefix(string(p.Type), "urn:ietf:params:acme:error:")
	if !ok || kind == "" || kind == "malformed" || kind == "serverInternal" {
		return ""
	}
	return " (" + kind + ")"
}

// Unwrap returns the order's problem and every challenge's problem, so
// that errors.As(err, &p) with p a *Problem and the Is predicates see them.
func (e *OrderError) Unwrap() []error {
	var errs []error
	if e.Problem != nil {
		errs = append(errs, e.Problem)
	}
	for _, a := range e.Authorizations {
		for _, ch := range a.Challenges {
			if ch.Error != nil {
				errs = append(errs, ch.Error)
			}
		}
	}
	return errs
}

func problemText(p *Problem) string {
	s := p.Detail
	if s == "" {
		s = p.Title
	}
	if s == "" {
		s = string(p.Type)
	}
	return fmt.Sprintf("%q", s)
}

// orderError builds the *OrderError of an invalid order, fetching its
// invalid authorizations. A failure to fetch one is not the error that
// matters: it is skipped.
func (c *Client) orderError(ctx context.Context, acct Account, o Order) *OrderError {
	e := &OrderError{Order: o, Problem: o.Error}
	for _, u := range o.Authorizations {
		a, err := c.GetAuthorization(ctx, acct, u)
		if err != nil {
			c.log.DebugContext(ctx, "acme: fetching authorization of invalid order", "url", u, "err", err)
			continue
		}
		if a.Status == StatusInvalid {
			e.Authorizations = append(e.Authorizations, a)
		}
	}
	return e
}

// identifierScope is the set ids as one string (sorted, lower case), the
// scope of a newOrder's rate limit: a CA's limits per name (certificates
// for a domain, an identifier paused) hold back the orders for those
// names, not the account's other orders.
func identifierScope(ids []Identifier) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = string(id.Type) + ":" + strings.ToLower(id.Value)
	}
	slices.Sort(parts)
	return strings.Join(slices.Compact(parts), ",")
}
