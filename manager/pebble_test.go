package manager_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"crypto/x509"
	"net/url"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/acmetest"
	"github.com/certkeeper/certkeeper/challenge"
	"github.com/certkeeper/certkeeper/issue"
	"github.com/certkeeper/certkeeper/keys"
	"github.com/certkeeper/certkeeper/manager"
	"github.com/certkeeper/certkeeper/manager/exechook"
	"github.com/certkeeper/certkeeper/solver/http01"
	"github.com/certkeeper/certkeeper/store"
)

// orderRecorder records the payloads of newOrder requests on their way to
// the CA, to see which carry "replaces".
type orderRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []map[string]any
}

func (o *orderRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.Contains(req.URL.Path, "order-plz") && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		var jws struct{ Payload string }
		if json.Unmarshal(body, &jws) == nil {
			if raw, err := base64.RawURLEncoding.DecodeString(jws.Payload); err == nil {
				var p map[string]any
				if json.Unmarshal(raw, &p) == nil {
					o.mu.Lock()
					o.seen = append(o.seen, p)
					o.mu.Unlock()
				}
			}
		}
	}
	return o.next.RoundTrip(req)
}

func (o *orderRecorder) orders() []map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]map[string]any(nil), o.seen...)
}

// TestPebble runs a Manager against Pebble with the real clock: it obtains a
// missing certificate, runs the deploy hook, then renews the 20-second
// certificate on its own inside Pebble's ARI window, naming the certificate
// it replaces.
func TestPebble(t *testing.T) {
	p := acmetest.NewTestPebble(t, acmetest.PebbleOptions{
		Profiles: map[string]acmetest.Profile{
			"default":    {},
			"shortlived": {ValidityPeriod: 20 * time.Second},
		},
	})
	pm := &recMetrics{}
	hc := p.HTTPClient()
	rec := &orderRecorder{next: hc.Transport}
	if rec.next == nil {
		rec.next = http.DefaultTransport
	}
	hc.Transport = rec
	client := &acme.Client{DirectoryURL: p.DirectoryURL, HTTPClient: hc, OnRequest: pm.ObserveRequest}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	key, err := keys.Generate(keys.EC256)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := client.NewAccount(ctx, acme.Account{Key: key, TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	is := &issue.Issuer{Client: client, Account: acct, Solvers: map[acme.ChallengeType]challenge.Solver{
		acme.ChallengeHTTP01: &http01.Standalone{Addr: fmt.Sprintf("127.0.0.1:%d", p.HTTPPort)},
	}}

	dir := t.TempDir()
	st, err := store.NewDir(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > \"$OUT.$CERTKEEPER_EVENT\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "env")
	t.Setenv("OUT", out)

	events := make(chan manager.Event, 100)
	m, err := manager.New(manager.Config{
		Store:   st,
		OnEvent: func(ev manager.Event) { events <- ev },
		Metrics: pm,
		Hooks:   []manager.Hook{{Command: script, Timeout: 10 * time.Second}},
		// OUT reaches the hook through the environment it is given.
		HookRunner: exechook.New(os.Environ()),
		Rand:       func() float64 { return 0.3 }, // 6 s into Pebble's window
	})
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := issue.ParseIdentifiers("pebble.example.test")
	if err := m.Manage(ctx, manager.Spec{Identifiers: ids, Issuer: is, Profile: "shortlived"}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(runCtx) }()
	defer func() { stop(); <-runDone }()
	if err := m.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	first := m.Lookup("pebble.example.test")
	if first == nil {
		t.Fatal("no certificate served after Ready")
	}
	if _, err := first.Leaf.Verify(x509VerifyOptions(p, "pebble.example.test")); err != nil {
		t.Errorf("the certificate does not verify: %v", err)
	}

	// The deploy hook ran with the certificate's environment.
	env, err := os.ReadFile(out + ".obtained")
	if err != nil {
		t.Fatalf("the hook did not run: %v", err)
	}
	for _, want := range []string{
		"CERTKEEPER_EVENT=obtained",
		"CERTKEEPER_NAME=pebble.example.test",
		"CERTKEEPER_NAMES=pebble.example.test",
		"CERTKEEPER_CERT_PATH=" + filepath.Join(st.Root(), "certificates", "127.0.0.1-"+portOf(p.DirectoryURL)+"_dir", "pebble.example.test", "cert.pem"),
		"CERTKEEPER_KEY_PATH=" + filepath.Join(st.Root(), "certificates", "127.0.0.1-"+portOf(p.DirectoryURL)+"_dir", "pebble.example.test", "key.pem"),
		"CERTKEEPER_NOT_AFTER=" + first.Leaf.NotAfter.UTC().Format(time.RFC3339),
	} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("hook environment lacks %q:\n%s", want, env)
		}
	}

	// It renews on its own, inside the ARI window, naming the old one.
	var renewed manager.Event
	for renewed.Type != manager.EventRenewed {
		select {
		case renewed = <-events:
			if renewed.Type == manager.EventFailed {
				t.Fatalf("renewal failed: %v", renewed.Err)
			}
		case <-ctx.Done():
			t.Fatal("not renewed within the test's time")
		}
	}
	second := m.Lookup("pebble.example.test")
	if second.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Fatal("the renewed certificate has the old serial")
	}
	wantReplaces, err := acme.ARICertID(first.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	orders := rec.orders()
	if len(orders) < 2 || orders[0]["replaces"] != nil || orders[1]["replaces"] != wantReplaces {
		t.Errorf("newOrder payloads %v; want the second to replace %s", orders, wantReplaces)
	}
	// Hooks run after OnEvent.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(out + ".renewed"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Errorf("the hook did not run for the renewal: %v", err)
			break
		}
	}
	certs := store.Certs{Store: st}
	res, err := certs.LoadCertificate(ctx, p.DirectoryURL, "pebble.example.test")
	if err != nil || !bytes.Equal(res.ChainPEM[:100], keys.EncodeCertificates(second.Leaf.Raw)[:100]) {
		t.Errorf("the store does not hold the renewed certificate (%v)", err)
	}

	// The metrics saw it (manager/prommetrics, a module of its own, turns
	// these calls into Prometheus series and is tested there).
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if got := pm.attempts["pebble.example.test"]; got < 2 {
		t.Errorf("renewal attempts = %v, want ≥ 2", got)
	}
	if !pm.notAfter["pebble.example.test"].Equal(second.Leaf.NotAfter) {
		t.Errorf("ObserveExpiry saw %v, want the renewed certificate's %v", pm.notAfter["pebble.example.test"], second.Leaf.NotAfter)
	}
	if pm.lastSuccess["pebble.example.test"].IsZero() || pm.orders < 2 {
		t.Errorf("last success %v, %d order durations; want a success and ≥ 2 orders", pm.lastSuccess["pebble.example.test"], pm.orders)
	}
	if got := pm.requests["renewalInfo 200"]; got < 1 {
		t.Errorf("renewalInfo requests = %v", got)
	}
	if got := pm.requests["newOrder 201"]; got < 2 {
		t.Errorf("newOrder 201 = %v", got)
	}
}

// recMetrics records what a Manager and a Client report to their
// manager.Metrics.
type recMetrics struct {
	mu          sync.Mutex
	attempts    map[string]int
	notAfter    map[string]time.Time
	lastSuccess map[string]time.Time
	orders      int
	requests    map[string]int // "endpoint status"
}

var _ manager.Metrics = (*recMetrics)(nil)

func (m *recMetrics) ObserveExpiry(name string, notAfter time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.notAfter == nil {
		m.notAfter = map[string]time.Time{}
	}
	m.notAfter[name] = notAfter
}

func (m *recMetrics) RenewalAttempt(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.attempts == nil {
		m.attempts = map[string]int{}
	}
	m.attempts[name]++
}

func (m *recMetrics) RenewalFailure(string) {}

func (m *recMetrics) LastSuccess(name string, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastSuccess == nil {
		m.lastSuccess = map[string]time.Time{}
	}
	m.lastSuccess[name] = t
}

func (m *recMetrics) OrderDuration(time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.orders++
}

func (m *recMetrics) ObserveRequest(ri acme.RequestInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.requests == nil {
		m.requests = map[string]int{}
	}
	m.requests[fmt.Sprintf("%s %d", ri.Endpoint, ri.Status)]++
}

func (m *recMetrics) Forget(string) {}

func x509VerifyOptions(p *acmetest.Pebble, name string) x509.VerifyOptions {
	inter := x509.NewCertPool()
	inter.AppendCertsFromPEM(p.IntermediatesPEM())
	return x509.VerifyOptions{DNSName: name, Roots: p.Roots(), Intermediates: inter}
}

func portOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Port()
}
