package cli

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certkeeper/certkeeper/acmetest"
)

// On a terminal, progress records are one status line rewritten in place
// (with what is waited for, for how long, which servers lack the record);
// warnings and other output go above it, and the line is erased at the
// end.
func TestProgressOnTerminal(t *testing.T) {
	tl := newTestLine()
	line, raw, log, stdout := tl.line, &tl.raw, tl.log, tl.line.writer(&tl.raw)

	log.Info("waiting before checking that the TXT record is served", "name", "_acme-challenge.example.test.", "delay", 10*time.Second)
	tl.tick(4 * time.Second) // a tick of the spinner
	log.Info("TXT record not yet served by every name server: waiting", "missing", []string{"ns2.example.test."})
	log.Warn("name server unreachable: not waiting for it", "server", "ns3.example.test.")
	stdout.Write([]byte("obtained example.test\n"))
	line.close()
	line.close()              // twice is harmless
	log.Info("after the end") // a line again, not a status

	got := raw.String()
	for _, want := range []string{
		"\r\x1b[K⠋ waiting before checking that the TXT record is served name=_acme-challenge.example.test. delay=10s",
		"delay=10s (4s)", // the time since, as the spinner turns
		"\r\x1b[K⠋ TXT record not yet served by every name server: waiting missing=[ns2.example.test.]",
		"\r\x1b[Ktime=", // the warning, on a line of its own above the status
		"level=WARN msg=\"name server unreachable: not waiting for it\" server=ns3.example.test.\n\r\x1b[K⠋ TXT record not yet served",
		"\r\x1b[Kobtained example.test\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, got)
		}
	}
	if strings.Contains(got, "level=INFO msg=waiting") || strings.Contains(got, "level=INFO msg=\"waiting") {
		t.Errorf("a progress record written as a line on a terminal:\n%q", got)
	}
	if !strings.Contains(got, "obtained example.test\n\r\x1b[K") || !strings.Contains(got, "level=INFO msg=\"after the end\"\n") {
		t.Errorf("the status line is not erased at the end, or later records are not lines:\n%q", got)
	}

	// A narrow terminal: the line is cut, never wrapped.
	raw.Reset()
	narrow := newLiveLine(raw, func() int { return 30 })
	narrow.set(strings.Repeat("x", 100))
	narrow.close()
	for _, l := range strings.Split(raw.String(), "\r\x1b[K") {
		if n := len([]rune(l)); n >= 30 {
			t.Errorf("status line of %d columns on a terminal of 30: %q", n, l)
		}
	}
}

// Off a terminal (a file, a pipe, a CI log), progress is plain lines,
// each with its time.
func TestProgressOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	lf := &logFlags{logLevel: "info", logFormat: "text"}
	log := lf.logger(&buf)
	log.Info("waiting before checking that the TXT record is served", "delay", 10*time.Second)
	log.Info("TXT record not yet served by every name server: waiting", "missing", []string{"ns2.example.test."})
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	re := regexp.MustCompile(`^time=\S+ level=INFO msg=`)
	if len(lines) != 2 || strings.Contains(buf.String(), "\r") {
		t.Fatalf("want two plain lines:\n%q", buf.String())
	}
	for _, l := range lines {
		if !re.MatchString(l) {
			t.Errorf("line %q has no time", l)
		}
	}
	// -v keeps every line on a terminal too.
	var raw bytes.Buffer
	v := &logFlags{logLevel: "info", logFormat: "text", verbose: true, live: newLiveLine(&raw, nil)}
	v.logger(&raw).Info("polling")
	if !strings.Contains(raw.String(), "level=INFO msg=polling\n") {
		t.Errorf("-v on a terminal: %q", raw.String())
	}
}

// certkeeper obtain with stderr on a terminal shows a status line, not
// INFO lines, and prints its result on a clean line.
func TestObtainProgressOnTerminal(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, acmetest.PebbleOptions{})
	r := e.cmdEnv(Env{StderrTerminal: true, TerminalWidth: func() int { return 120 }}, "obtain", "-http-listen", e.httpAddr(), "live.example.test")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "\r\x1b[K⠋ ") || strings.Contains(r.stderr, "level=INFO") {
		t.Errorf("stderr on a terminal: %q", r.stderr)
	}
	if !strings.HasSuffix(r.stderr, "\r\x1b[K") {
		t.Errorf("the status line is left on the terminal: %q", r.stderr)
	}
	if !strings.Contains(r.stdout, "obtained live.example.test") {
		t.Errorf("stdout %q", r.stdout)
	}
}

// A status that announces its wait (next_in) shows it once, in the time
// since: "(4s of 10s)", not "next_in=10s (4s)"; once the wait is over,
// the time since alone.
func TestProgressShowsWaitOnce(t *testing.T) {
	tl := newTestLine()
	log, raw := tl.log, &tl.raw
	tick := func(d time.Duration) string {
		raw.Reset()
		tl.tick(d)
		return raw.String()
	}

	log.Info("the CA request failed; retrying", "reason", "connection refused", "attempt", 2, "next_in", 10*time.Second)
	if got, want := raw.String(), "⠋ the CA request failed; retrying reason=\"connection refused\" attempt=2 (0s of 10s)"; !strings.HasSuffix(got, want) {
		t.Errorf("at once: %q, want the line to end %q", got, want)
	}
	if got := tick(4 * time.Second); !strings.HasSuffix(got, "attempt=2 (4s of 10s)") || strings.Contains(got, "next_in") {
		t.Errorf("after 4s: %q", got)
	}
	if got := tick(8 * time.Second); !strings.HasSuffix(got, "attempt=2 (12s)") {
		t.Errorf("after 12s: %q", got)
	}
	// A status without a wait keeps its attributes and the time since.
	log.Info("the CA has not answered yet", "waited", 5*time.Second)
	if got := tick(2 * time.Second); !strings.HasSuffix(got, "the CA has not answered yet waited=5s (2s)") {
		t.Errorf("without next_in: %q", got)
	}
	tl.line.close()
}

// testLine is a status line on a terminal of 200 columns (raw), on a
// clock the test moves, and the logger of a command whose progress it
// shows.
type testLine struct {
	raw   bytes.Buffer
	line  *liveLine
	clock time.Time
	log   *slog.Logger
}

func newTestLine() *testLine {
	tl := &testLine{clock: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	tl.line = newLiveLine(&tl.raw, func() int { return 200 })
	tl.line.now = func() time.Time { return tl.clock }
	lf := &logFlags{logLevel: "info", logFormat: "text", live: tl.line}
	tl.log = lf.logger(tl.line.writer(&tl.raw))
	return tl
}

// tick moves the clock by d and redraws the line, as the spinner does.
func (tl *testLine) tick(d time.Duration) {
	tl.clock = tl.clock.Add(d)
	tl.line.mu.Lock()
	tl.line.drawLocked()
	tl.line.mu.Unlock()
}
