package acmetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultProxy is an HTTPS reverse proxy in front of an ACME server that
// injects faults by rule. It rewrites the upstream server's absolute URLs
// in bodies and in Location and Link headers, and forwards the client's
// Host header, so a client that starts at URL keeps talking through the
// proxy and its JWS "url" values (RFC 8555 §6.4) match what the upstream
// server expects. Rules may be changed while it runs.
type FaultProxy struct {
	// URL is the upstream directory URL as seen through the proxy.
	URL string

	srv            *httptest.Server
	upstream       *http.Client
	upstreamDir    string
	upstreamOrigin string // scheme://host:port
	origin         string // the proxy's scheme://host:port

	mu       sync.Mutex
	rules    []*ruleState
	records  []RequestRecord
	newNonce string // upstream newNonce URL, once known

	closeOnce sync.Once
}

type ruleState struct {
	rule     Rule
	rng      *rand.Rand
	matched  int
	injected int
}

// NewFaultProxy starts a proxy in front of the ACME server whose
// directory is upstreamDirectoryURL, reached with the client upstream
// (which must trust the server's certificate; nil means
// http.DefaultClient). It starts with no rules.
func NewFaultProxy(upstreamDirectoryURL string, upstream *http.Client) (*FaultProxy, error) {
	u, err := url.Parse(upstreamDirectoryURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("acmetest: bad upstream directory URL %q", upstreamDirectoryURL)
	}
	if upstream == nil {
		upstream = http.DefaultClient
	}
	// Redirects are the client's business, not the proxy's.
	c := *upstream
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p := &FaultProxy{
		upstream:       &c,
		upstreamDir:    upstreamDirectoryURL,
		upstreamOrigin: u.Scheme + "://" + u.Host,
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	p.origin = p.srv.URL
	p.URL = p.origin + u.RequestURI()
	return p, nil
}

// NewFaultProxy starts a FaultProxy in front of p.
func (p *Pebble) NewFaultProxy() (*FaultProxy, error) {
	return NewFaultProxy(p.DirectoryURL, p.HTTPClient())
}

// Close stops the proxy. It is safe to call more than once.
func (p *FaultProxy) Close() error {
	p.closeOnce.Do(func() {
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
	return nil
}

// HTTPClient returns a new client that trusts the proxy's certificate.
func (p *FaultProxy) HTTPClient() *http.Client {
	return newTLSClient(p.Roots())
}

// Roots returns a pool holding the proxy's self-signed certificate.
func (p *FaultProxy) Roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.srv.Certificate())
	return pool
}

// SetRules replaces all rules, and their counts, with rules.
func (p *FaultProxy) SetRules(rules ...Rule) {
	states := make([]*ruleState, len(rules))
	for i, r := range rules {
		states[i] = newRuleState(r)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = states
}

// AddRule appends a rule, considered after the existing ones, and returns
// its index in Stats.
func (p *FaultProxy) AddRule(r Rule) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, newRuleState(r))
	return len(p.rules) - 1
}

func newRuleState(r Rule) *ruleState {
	return &ruleState{rule: r, rng: rand.New(rand.NewPCG(r.Seed, r.Seed^0x9e3779b97f4a7c15))}
}

// Stats returns the counts of every rule, in rule order.
func (p *FaultProxy) Stats() []RuleStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	stats := make([]RuleStats, len(p.rules))
	for i, s := range p.rules {
		stats[i] = RuleStats{Rule: s.rule, Matched: s.matched, Injected: s.injected}
	}
	return stats
}

// Requests returns every request received so far, in arrival order.
func (p *FaultProxy) Requests() []RequestRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.records)
}

// RetryAfterViolations returns the requests that came too early: those
// with the same method and path as an earlier request that was given a
// Retry-After, arriving before that delay had passed (counted from the
// earlier request's arrival, which favours the client).
func (p *FaultProxy) RetryAfterViolations() []RequestRecord {
	records := p.Requests()
	var bad []RequestRecord
	for j, later := range records {
		for _, earlier := range records[:j] {
			if earlier.RetryAfterGiven > 0 && earlier.Method == later.Method && earlier.Path == later.Path &&
				later.Time.Before(earlier.Time.Add(earlier.RetryAfterGiven)) {
				bad = append(bad, later)
				break
			}
		}
	}
	return bad
}

// pick logs r and returns the index of its record and the rule that faults
// it (Fault NoFault if none). Rules are tried in order; those after the one
// that fires do not count r.
func (p *FaultProxy) pick(r *http.Request) (int, Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records = append(p.records, RequestRecord{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Rule: -1})
	rec := &p.records[len(p.records)-1]
	for i, s := range p.rules {
		if (s.rule.Method != "" && s.rule.Method != r.Method) || !strings.HasPrefix(r.URL.Path, s.rule.PathPrefix) {
			continue
		}
		s.matched++
		var fire bool
		switch {
		case s.rule.Nth > 0:
			count := s.rule.Count
			if count == 0 {
				count = 1
			}
			fire = s.matched >= s.rule.Nth && (count < 0 || s.matched < s.rule.Nth+count)
		case s.rule.Probability > 0:
			fire = s.rng.Float64() < s.rule.Probability
		default:
			fire = true
		}
		if fire && s.rule.Fault != NoFault {
			s.injected++
			rec.Rule, rec.Fault = i, s.rule.Fault
			return len(p.records) - 1, s.rule
		}
	}
	return len(p.records) - 1, Rule{}
}

// finish stores the outcome of the request logged at index i.
func (p *FaultProxy) finish(i int, out *RequestRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := &p.records[i]
	rec.Status, rec.UpstreamStatus, rec.RetryAfterGiven = out.Status, out.UpstreamStatus, out.RetryAfterGiven
}

func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	// The outcome is logged before the client can see it, so a test that
	// reads Requests right after its call returns finds it there.
	i, rule := p.pick(r)
	var rec RequestRecord

	switch rule.Fault {
	case Status500, Status503RetryAfter, Status429RetryAfter:
		p.injectStatus(w, r, rule, func(status int, retryAfter time.Duration) {
			rec.Status, rec.RetryAfterGiven = status, retryAfter
			p.finish(i, &rec)
		})
		return
	case ConnectionReset:
		p.finish(i, &rec)
		resetConn(w)
		return
	case BadNonce:
		rule.ReplayNonce = true
		p.injectStatus(w, r, rule, func(status int, retryAfter time.Duration) {
			rec.Status = status
			p.finish(i, &rec)
		})
		return
	case Slow:
		if !sleepCtx(r.Context(), rule.Delay) {
			// Abandoned: never an (implicit, empty) 200 answer.
			p.finish(i, &rec)
			resetConn(w)
			return
		}
	}

	resp, body, err := p.forward(r)
	if err != nil {
		rec.Status = http.StatusBadGateway
		p.finish(i, &rec)
		http.Error(w, "acmetest: upstream: "+err.Error(), http.StatusBadGateway)
		return
	}
	rec.UpstreamStatus = resp.StatusCode
	if rule.Fault == DropResponse {
		p.finish(i, &rec)
		resetConn(w)
		return
	}
	for k, vs := range resp.Header {
		if hopByHop(k) || k == "Content-Length" {
			continue
		}
		for _, v := range vs {
			if k == "Location" || k == "Link" {
				v = strings.ReplaceAll(v, p.upstreamOrigin, p.origin)
			}
			w.Header().Add(k, v)
		}
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		rec.RetryAfterGiven = time.Duration(secs) * time.Second
	}
	body = bytes.ReplaceAll(body, []byte(p.upstreamOrigin), []byte(p.origin))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	rec.Status = resp.StatusCode
	p.finish(i, &rec)
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// forward sends r upstream and reads the whole answer (at most
// maxResponseBody bytes).
func (p *FaultProxy) forward(r *http.Request) (*http.Response, []byte, error) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstreamOrigin+r.URL.RequestURI(), r.Body)
	if err != nil {
		return nil, nil, err
	}
	out.ContentLength = r.ContentLength
	for k, vs := range r.Header {
		if !hopByHop(k) {
			out.Header[k] = slices.Clone(vs)
		}
	}
	// Pebble builds its URLs, and checks the JWS "url", from Host.
	out.Host = r.Host
	out.Header.Set("X-Forwarded-Proto", "https")
	resp, err := p.upstream.Do(out)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := readBody(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	return resp, body, nil
}

// injectStatus answers r with the status fault of rule, calling logged
// with what it sends just before sending it.
func (p *FaultProxy) injectStatus(w http.ResponseWriter, r *http.Request, rule Rule, logged func(int, time.Duration)) {
	status, problem := http.StatusInternalServerError, "urn:ietf:params:acme:error:serverInternal"
	var retryAfter time.Duration
	switch rule.Fault {
	case Status503RetryAfter:
		status = http.StatusServiceUnavailable
	case Status429RetryAfter:
		status, problem = http.StatusTooManyRequests, "urn:ietf:params:acme:error:rateLimited"
	case BadNonce:
		status, problem = http.StatusBadRequest, "urn:ietf:params:acme:error:badNonce"
	}
	if rule.Fault == Status503RetryAfter || rule.Fault == Status429RetryAfter {
		retryAfter = rule.RetryAfter
		if retryAfter <= 0 {
			retryAfter = time.Second
		}
		secs := int((retryAfter + time.Second - 1) / time.Second)
		retryAfter = time.Duration(secs) * time.Second
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	if rule.ReplayNonce {
		if nonce, err := p.fetchNonce(r.Context()); err == nil {
			w.Header().Set("Replay-Nonce", nonce)
		}
	}
	body, _ := json.Marshal(map[string]any{
		"type":   problem,
		"detail": fmt.Sprintf("acmetest: injected %v for %s %s", rule.Fault, r.Method, r.URL.Path),
		"status": status,
	})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	logged(status, retryAfter)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// fetchNonce gets a fresh nonce from the upstream newNonce resource.
func (p *FaultProxy) fetchNonce(ctx context.Context) (string, error) {
	p.mu.Lock()
	newNonce := p.newNonce
	p.mu.Unlock()
	if newNonce == "" {
		body, err := get(ctx, p.upstream, p.upstreamDir)
		if err != nil {
			return "", err
		}
		var dir struct {
			NewNonce string `json:"newNonce"`
		}
		if err := json.Unmarshal(body, &dir); err != nil || dir.NewNonce == "" {
			return "", fmt.Errorf("acmetest: no newNonce in upstream directory: %v", err)
		}
		newNonce = dir.NewNonce
		p.mu.Lock()
		p.newNonce = newNonce
		p.mu.Unlock()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, newNonce, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", "certkeeper-acmetest")
	resp, err := p.upstream.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if n := resp.Header.Get("Replay-Nonce"); n != "" {
		return n, nil
	}
	return "", errors.New("acmetest: upstream newNonce gave no Replay-Nonce")
}

// resetConn takes over the client's connection and closes it with a TCP
// RST, without an HTTP response.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead.
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
}

func hopByHop(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}
