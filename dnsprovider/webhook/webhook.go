// Package webhook publishes ACME challenge TXT records by POSTing them to
// an HTTP endpoint of the user's, which talks to the DNS host.
//
// Each record is one request, Content-Type application/json:
//
//	{"action": "add", "zone": "example.com.", "fqdn": "_acme-challenge.www.example.com.", "value": "…"}
//
// with action "add" or "remove". Any 2xx status means done; anything else
// is an error quoting the start of the response body. "add" must keep
// other TXT values at fqdn; "remove" must delete that value only.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/certkeeper/certkeeper/internal/redact"
)

// Action says what the endpoint must do with the record.
type Action string

// The two actions.
const (
	ActionAdd    Action = "add"
	ActionRemove Action = "remove"
)

// Request is the JSON body sent.
type Request struct {
	Action Action `json:"action"`
	// Zone is the zone holding FQDN, fully qualified; "" when the
	// solver could not find it (its DNS servers do not answer SOA
	// queries, say) and was given none.
	Zone string `json:"zone"`
	// FQDN is the record's owner name, fully qualified with a trailing dot.
	FQDN  string `json:"fqdn"`
	Value string `json:"value"`
}

// Provider POSTs records to URL. It is safe for concurrent use; fields
// must not change after first use.
type Provider struct {
	// URL is the endpoint. Required.
	URL string
	// Header is added to every request, e.g. Authorization.
	Header http.Header
	// Client sends the requests. nil means a client with a 30 s timeout.
	Client *http.Client
}

// AddTXT sends {"action": "add", …}.
func (p *Provider) AddTXT(ctx context.Context, zone, fqdn, value string) error {
	return p.send(ctx, Request{Action: ActionAdd, Zone: zone, FQDN: fqdn, Value: value})
}

// RemoveTXT sends {"action": "remove", …}.
func (p *Provider) RemoveTXT(ctx context.Context, zone, fqdn, value string) error {
	return p.send(ctx, Request{Action: ActionRemove, Zone: zone, FQDN: fqdn, Value: value})
}

// ZoneOptional reports true (dns01.ZoneOptional): the zone is a hint to
// the endpoint, sent as "" when the solver could not find it.
func (p *Provider) ZoneOptional() bool { return true }

func (p *Provider) send(ctx context.Context, r Request) error {
	if p.URL == "" {
		return errors.New("webhook: Provider.URL is empty")
	}
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		// Not wrapped: url.Parse's error quotes the whole URL, password
		// included.
		return fmt.Errorf("webhook: Provider.URL %s is invalid", redactURL(p.URL))
	}
	for k, v := range p.Header {
		req.Header[k] = append([]string(nil), v...)
	}
	req.Header.Set("Content-Type", "application/json")
	c := p.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %s %s: %w", r.Action, r.FQDN, redact.Err(err))
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		where := redactURL(p.URL)
		msg := strings.TrimSpace(string(excerpt))
		if msg == "" {
			return fmt.Errorf("webhook: %s %s: %s answered %s", r.Action, r.FQDN, where, resp.Status)
		}
		return fmt.Errorf("webhook: %s %s: %s answered %s: %s", r.Action, r.FQDN, where, resp.Status, msg)
	}
	return nil
}

// redactURL shows scheme and host only: the userinfo, path and query may
// hold a credential, which error messages (and so logs) must not show.
func redactURL(raw string) string { return redact.URL(raw) }
