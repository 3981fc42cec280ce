package dns01

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certkeeper/certkeeper/acme"
	"github.com/certkeeper/certkeeper/challenge"
)

var testChal = acme.Challenge{
	Type:             acme.ChallengeDNS01,
	Token:            "tok",
	Identifier:       acme.Identifier{Type: acme.IdentifierDNS, Value: "example.com"},
	KeyAuthorization: "tok.thumb",
}

func TestBackoffSchedule(t *testing.T) {
	s := defaultBackoff()
	want := []time.Duration{2 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := backoff(s, i); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i, got, w)
		}
	}
}

func TestWaitPropagationDelay(t *testing.T) {
	cb := Callback{PropagationDelay: 150 * time.Millisecond}
	start := time.Now()
	if err := cb.Wait(context.Background(), testChal); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("Wait returned after %v, before PropagationDelay", d)
	}

	cb.PropagationDelay = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	err := cb.Wait(ctx, testChal)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Wait ignored ctx for %v", d)
	}
}

func TestWaitPollsCheck(t *testing.T) {
	var calls atomic.Int32
	cb := Callback{
		Backoff: []time.Duration{time.Millisecond},
		Check: func(ctx context.Context, c acme.Challenge) error {
			if calls.Add(1) < 3 {
				return errors.New("not yet")
			}
			return nil
		},
	}
	if err := cb.Wait(context.Background(), testChal); err != nil || calls.Load() != 3 {
		t.Fatalf("Wait = %v after %d checks", err, calls.Load())
	}

	cb.Check = func(context.Context, acme.Challenge) error { return errors.New("record missing") }
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := cb.Wait(ctx, testChal)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "record missing") {
		t.Fatalf("Wait = %v, want deadline with last check error", err)
	}
}

// TestCallbackWithSelfCheck runs Present, Wait and CleanUp against a real
// DNS server on 127.0.0.1 that the callbacks update, publishing each
// record only after a delay, as a slow provider would.
func TestCallbackWithSelfCheck(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	zone := map[string][]string{}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		mu.Lock()
		for _, v := range zone[strings.ToLower(q.Name)] {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{v}})
		}
		mu.Unlock()
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	defer srv.Shutdown()
	resolver := pc.LocalAddr().String()

	cb := Callback{
		PresentFunc: func(ctx context.Context, c acme.Challenge) error {
			name, value, err := challenge.RecordFor(c)
			if err != nil {
				return err
			}
			time.AfterFunc(100*time.Millisecond, func() {
				mu.Lock()
				zone[name] = append(zone[name], value)
				mu.Unlock()
			})
			return nil
		},
		CleanUpFunc: func(ctx context.Context, c acme.Challenge) error {
			name, _, _ := challenge.RecordFor(c)
			mu.Lock()
			delete(zone, name)
			mu.Unlock()
			return nil
		},
		PropagationDelay: 10 * time.Millisecond,
		Check: func(ctx context.Context, c acme.Challenge) error {
			return SelfCheck(ctx, resolver, c)
		},
		Backoff: []time.Duration{20 * time.Millisecond},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	acct := testChal
	acct.Type, acct.AccountURL = acme.ChallengeDNSAccount01, "https://example.com/acme/acct/1"
	for _, c := range []acme.Challenge{testChal, acct} {
		if err := cb.Present(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := cb.Wait(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := cb.CleanUp(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := SelfCheck(ctx, resolver, c); err == nil {
			t.Error("record still visible after CleanUp")
		}
	}
	if err := cb.Present(ctx, acme.Challenge{Type: acme.ChallengeHTTP01}); err == nil {
		t.Error("http-01 challenge accepted")
	}
	if err := (Callback{}).Present(ctx, testChal); err == nil {
		t.Error("nil PresentFunc accepted")
	}
}
