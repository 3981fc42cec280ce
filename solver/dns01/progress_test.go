package dns01

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"github.com/certkeeper/certkeeper/acme"
)

// jsonLog captures a Logger's records as JSON objects.
type jsonLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *jsonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *jsonLog) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *jsonLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the records whose message starts with msg, Info and
// Debug ones alike.
func (l *jsonLog) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if s == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		if strings.HasPrefix(m["msg"].(string), msg) {
			out = append(out, m)
		}
	}
	return out
}

// levels lists the records' levels, e.g. "INFO DEBUG INFO".
func levels(ms []map[string]any) string {
	var ls []string
	for _, m := range ms {
		ls = append(ls, m["level"].(string))
	}
	return strings.Join(ls, " ")
}

// The propagation check says that it waits out the delay, then which
// servers still miss the record: Info at the first check and at most once
// every few seconds after, Debug in between.
func TestPropagationProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		const fqdn, value = "_acme-challenge.example.com.", "v"
		var log jsonLog
		p := Propagation{
			Servers: []string{"ns1.test:53", "ns2.test:53"},
			Delay:   3 * time.Second,
			Logger:  log.logger(),
			exchange: func(ctx context.Context, server string, m *dns.Msg, _ time.Duration) (*dns.Msg, error) {
				r := new(dns.Msg)
				r.SetReply(m)
				// ns2 lags until 12 s.
				if server == "ns1.test:53" || time.Since(start) > 12*time.Second {
					r.Answer = append(r.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{value}})
				}
				return r, nil
			},
		}
		if err := p.Wait(context.Background(), nil, "example.com.", fqdn, value); err != nil {
			t.Fatal(err)
		}
		delay := log.lines(t, "waiting before checking")
		if len(delay) != 1 || delay[0]["level"] != "INFO" || delay[0]["next_in"] != 3e9 || delay[0]["name"] != fqdn {
			t.Fatalf("delay lines %v, want one at Info with next_in=3s and the name\n%s", delay, log.String())
		}
		// Checks at 3, 5, 7, 9, 11 s miss ns2; the one at 13 s passes.
		checks := log.lines(t, "TXT record not yet served")
		if got := levels(checks); got != "INFO DEBUG DEBUG INFO DEBUG" {
			t.Fatalf("check lines %s, want INFO DEBUG DEBUG INFO DEBUG\n%s", got, log.String())
		}
		for i, m := range checks {
			missing, _ := m["missing"].([]any)
			if len(missing) != 1 || missing[0] != "ns2.test:53" || m["next_in"] != 2e9 || m["waited"] != float64((3+2*i)*1e9) || m["checks"] != float64(i+1) {
				t.Errorf("check line %d: %v; want missing=[ns2.test:53] next_in=2s waited=%ds checks=%d", i, m, 3+2*i, i+1)
			}
		}
	})
}

// A hook solver's delay says how long it waits, for which name (a
// wildcard's with its "*."), and its failed checks are paced.
func TestCallbackProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var log jsonLog
		c := Callback{
			PresentFunc:      func(context.Context, acme.Challenge) error { return nil },
			PropagationDelay: 8 * time.Second,
			Backoff:          []time.Duration{time.Second},
			Check: func(context.Context, acme.Challenge) error {
				if time.Since(start) < 20*time.Second {
					return errNotYet
				}
				return nil
			},
			Logger: log.logger(),
		}
		chal := testChal
		chal.Wildcard = true
		if err := c.Wait(context.Background(), chal); err != nil {
			t.Fatal(err)
		}
		delay := log.lines(t, "waiting for the TXT record to propagate")
		if len(delay) != 1 || delay[0]["level"] != "INFO" || delay[0]["next_in"] != 8e9 ||
			delay[0]["identifier"] != "*."+chal.Identifier.Value || delay[0]["name"] != "_acme-challenge."+chal.Identifier.Value+"." {
			t.Fatalf("delay lines %v, want one at Info, next_in=8s, the record's name and the wildcard\n%s", delay, log.String())
		}
		// Checks fail at 8, 9, …, 19 s: Info at 8, 13, 18.
		checks := log.lines(t, "TXT record not visible yet")
		if len(checks) != 12 {
			t.Fatalf("%d check lines, want 12\n%s", len(checks), log.String())
		}
		for i, m := range checks {
			want := "DEBUG"
			if i%5 == 0 {
				want = "INFO"
			}
			if m["level"] != want || m["attempt"] != float64(i+1) || m["next_in"] != 1e9 || m["reason"] != errNotYet.Error() {
				t.Errorf("check line %d: %v; want level %s, attempt %d, next_in=1s and the reason", i, m, want, i+1)
			}
		}

		// Without a check, a Solver only waits, and says so.
		var log2 jsonLog
		sv := &Solver{Provider: nopProvider{}, NoCNAME: true, Zones: []string{"example.com"}, NoPropagationCheck: true,
			Propagation: Propagation{Delay: 5 * time.Second}, Logger: log2.logger()}
		chal.Identifier.Value = "example.com"
		if err := sv.Present(context.Background(), chal); err != nil {
			t.Fatal(err)
		}
		if err := sv.Wait(context.Background(), chal); err != nil {
			t.Fatal(err)
		}
		lines := log2.lines(t, "waiting for the TXT record to propagate (no check)")
		if len(lines) != 1 || lines[0]["next_in"] != 5e9 || lines[0]["identifier"] != "*.example.com" || lines[0]["zone"] != "example.com." {
			t.Errorf("no-check lines %v, want one with next_in=5s, zone and identifier\n%s", lines, log2.String())
		}
	})
}

type nopProvider struct{}

func (nopProvider) AddTXT(context.Context, string, string, string) error    { return nil }
func (nopProvider) RemoveTXT(context.Context, string, string, string) error { return nil }

var errNotYet = errors.New("not yet")
