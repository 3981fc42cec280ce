package progress

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestThrottle(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	th := NewThrottle(t0)
	steps := []struct {
		at   time.Duration
		next time.Duration
		want bool
	}{
		{0, 10 * time.Millisecond, false},
		{500 * time.Millisecond, 100 * time.Millisecond, false},
		{500 * time.Millisecond, 600 * time.Millisecond, true}, // the wait passes a second
		{2 * time.Second, time.Second, false},
		{5400 * time.Millisecond, time.Second, false},
		{5500 * time.Millisecond, time.Second, true},
		{6 * time.Second, 30 * time.Second, false},
		{10500 * time.Millisecond, 0, true},
	}
	for i, s := range steps {
		if got := th.Due(t0.Add(s.at), s.next); got != s.want {
			t.Errorf("step %d (at %v, next %v): Due = %v, want %v", i, s.at, s.next, got, s.want)
		}
	}
	// A wait announced as long says so at once.
	if !NewThrottle(t0).Due(t0, 8*time.Second) {
		t.Error("an 8s pause at the start of a wait is not said")
	}
}

func TestWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		}))
		stop := Watch(context.Background(), log, 3*time.Second, "no answer yet", slog.String("name", "x"))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if buf.Len() != 0 {
			t.Fatalf("said before the first delay: %s", buf.String())
		}
		time.Sleep(12 * time.Second) // lines at 3s, 8s, 13s
		synctest.Wait()
		stop()
		time.Sleep(time.Minute)
		synctest.Wait()
		want := `level=INFO msg="no answer yet" name=x waited=3s
level=INFO msg="no answer yet" name=x waited=8s
level=INFO msg="no answer yet" name=x waited=13s
`
		if buf.String() != want {
			t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
		}
		// A stopped watch that never fired says nothing.
		buf.Reset()
		Watch(context.Background(), log, time.Second, "quick")()
		time.Sleep(time.Minute)
		synctest.Wait()
		if strings.Contains(buf.String(), "quick") {
			t.Errorf("a stopped watch said %s", buf.String())
		}
	})
}

func TestRound(t *testing.T) {
	for d, want := range map[time.Duration]time.Duration{
		1234567 * time.Microsecond: 1200 * time.Millisecond,
		12345 * time.Microsecond:   10 * time.Millisecond,
		83456 * time.Millisecond:   83 * time.Second,
	} {
		if got := Round(d); got != want {
			t.Errorf("Round(%v) = %v, want %v", d, got, want)
		}
	}
}

// syncBuffer is a bytes.Buffer for log lines written from timers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Len() int { return len(s.String()) }

func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}
