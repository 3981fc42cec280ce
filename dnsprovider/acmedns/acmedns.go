// Package acmedns is a client for acme-dns (github.com/joohoi/acme-dns),
// a small DNS server with an HTTP API that exists only to answer ACME DNS
// challenges, and a Provider that writes challenge records through it.
//
// Setup, once per domain: Register an account, then create the CNAME
//
//	_acme-challenge.example.com. CNAME <account FullDomain>.
//
// in the domain's own zone. The dns01.Solver follows that CNAME and calls
// the Provider with the FullDomain, whose account then updates the
// record. The domain's own DNS credentials never leave its DNS host.
//
// acme-dns keeps the two most recent values of each account and has no
// delete, so RemoveTXT does nothing; two values are enough for a wildcard
// and its base name in one order.
package acmedns

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
)

// Account is an acme-dns registration, in the JSON form acme-dns returns
// and other clients store.
type Account struct {
	Username   string   `json:"username"`
	Password   string   `json:"password"`
	FullDomain string   `json:"fulldomain"`
	SubDomain  string   `json:"subdomain"`
	AllowFrom  []string `json:"allowfrom"`
}

// Client talks to one acme-dns server. It is safe for concurrent use.
type Client struct {
	// Server is the base URL of the API, e.g. "https://auth.acme-dns.io".
	// Required.
	Server string
	// HTTPClient sends the requests. nil means a client with a 30 s
	// timeout.
	HTTPClient *http.Client
}

// Error is a non-2xx answer from acme-dns.
type Error struct {
	Status int
	// Code is acme-dns's "error" field, e.g. "forbidden", "bad_txt".
	Code string
	Body string
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("acmedns: server answered %d: %s", e.Status, e.Code)
	}
	return fmt.Sprintf("acmedns: server answered %d: %s", e.Status, e.Body)
}

// Register creates an account (POST /register). allowFrom lists the CIDR
// ranges allowed to update it; nil allows any address.
func (c *Client) Register(ctx context.Context, allowFrom []string) (Account, error) {
	var body any = struct{}{}
	if len(allowFrom) > 0 {
		body = map[string][]string{"allowfrom": allowFrom}
	}
	var a Account
	if err := c.post(ctx, "/register", nil, body, &a); err != nil {
		return Account{}, err
	}
	if a.Username == "" || a.Password == "" || a.SubDomain == "" || a.FullDomain == "" {
		return Account{}, errors.New("acmedns: register answer lacks username, password, subdomain or fulldomain")
	}
	return a, nil
}

// Update sets the TXT value of acct's subdomain (POST /update with
// X-Api-User and X-Api-Key).
func (c *Client) Update(ctx context.Context, acct Account, txt string) error {
	h := http.Header{"X-Api-User": {acct.Username}, "X-Api-Key": {acct.Password}}
	return c.post(ctx, "/update", h, map[string]string{"subdomain": acct.SubDomain, "txt": txt}, nil)
}

func (c *Client) post(ctx context.Context, path string, h http.Header, in, out any) error {
	if c.Server == "" {
		return errors.New("acmedns: Client.Server is empty")
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.Server, "/")+path, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("acmedns: %w", err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("acmedns: %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("acmedns: %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode, Body: strings.TrimSpace(string(data))}
		var w struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &w) == nil {
			e.Code = w.Error
		}
		return fmt.Errorf("acmedns: %s: %w", path, e)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("acmedns: %s: bad answer: %w", path, err)
		}
	}
	return nil
}

// Provider implements dns01.Provider with acme-dns accounts.
type Provider struct {
	Client *Client
	// Accounts maps a domain (e.g. "example.com", or "*.example.com") to
	// its account, as LoadAccounts reads them.
	Accounts map[string]Account
}

// LoadAccounts reads the JSON object that acme-dns clients keep, mapping
// each domain to its account:
//
//	{"example.com": {"username": "…", "password": "…", "fulldomain": "…", "subdomain": "…", "allowfrom": []}}
func LoadAccounts(data []byte) (map[string]Account, error) {
	var m map[string]Account
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("acmedns: accounts file: %w", err)
	}
	for d, a := range m {
		if a.Username == "" || a.Password == "" || a.SubDomain == "" {
			return nil, fmt.Errorf("acmedns: accounts file: account for %q lacks username, password or subdomain", d)
		}
	}
	return m, nil
}

// account finds the account for fqdn: the one whose FullDomain it is (the
// CNAME was followed), or the one of the domain whose _acme-challenge
// name it is (the CNAME is missing, and the check will say so).
func (p *Provider) account(fqdn string) (Account, error) {
	name := strings.ToLower(strings.TrimSuffix(fqdn, "."))
	for _, a := range p.Accounts {
		if strings.EqualFold(strings.TrimSuffix(a.FullDomain, "."), name) {
			return a, nil
		}
	}
	for d, a := range p.Accounts {
		d = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(d, "*."), "."))
		if name == "_acme-challenge."+d {
			return a, nil
		}
	}
	return Account{}, fmt.Errorf("acmedns: no account for %s: register one and create the CNAME _acme-challenge.<domain> -> its fulldomain", fqdn)
}

// AddTXT updates the account's record to value.
func (p *Provider) AddTXT(ctx context.Context, zone, fqdn, value string) error {
	if p.Client == nil {
		return errors.New("acmedns: Provider.Client is nil")
	}
	a, err := p.account(fqdn)
	if err != nil {
		return err
	}
	return p.Client.Update(ctx, a, value)
}

// RemoveTXT does nothing: acme-dns keeps the two latest values and drops
// older ones itself.
func (p *Provider) RemoveTXT(ctx context.Context, zone, fqdn, value string) error { return nil }

// ZoneOptional reports true: the zone is not used (dns01.ZoneOptional).
func (p *Provider) ZoneOptional() bool { return true }
